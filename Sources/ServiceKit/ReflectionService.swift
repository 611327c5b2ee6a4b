import GRPCReflectionV1Protos
import GRPCReflectionV1alphaProtos
public import RPCCore

/// gRPC server reflection, both `grpc.reflection.v1` and `grpc.reflection.v1alpha`, over the
/// proto files of the services a server exposes.
///
/// `StandardServices.adding(to:health:)` adds it to every server, so reflection clients (grpcurl, grpcio-reflection,
/// Postman) can list services, fetch descriptors and call methods without the `.proto` files.
public struct ReflectionService: Sendable {
  private let index: ReflectionIndex

  /// Creates the service; `serviceNames` are the fully qualified services the server exposes
  /// and `files` the proto files declaring them (see `RegistrableRPCService.protoFiles`); the
  /// reflection services themselves and their files are added.
  public init(serviceNames: [String], files: [(name: String, serialized: [UInt8])]) {
    let names = Set(serviceNames).union([
      "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
    ])
    let ownFiles = GRPCReflectionV1ProtoFiles.all + GRPCReflectionV1alphaProtoFiles.all
    self.index = ReflectionIndex(files: ownFiles + files, serviceNames: Array(names))
  }

  /// The same service for the two protocol versions, for registering with a server.
  public var services: [any RegistrableRPCService] {
    [V1(index: self.index), V1Alpha(index: self.index)]
  }

  struct V1: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
    let index: ReflectionIndex

    func serverReflectionInfo(
      request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest>,
      response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
      context: ServerContext
    ) async throws {
      for try await query in request {
        var answer = Grpc_Reflection_V1_ServerReflectionResponse()
        answer.validHost = query.host
        answer.originalRequest = query
        switch self.index.answer(Self.query(query.messageRequest)) {
        case .files(let files):
          var files_ = Grpc_Reflection_V1_FileDescriptorResponse()
          files_.fileDescriptorProto = files
          answer.messageResponse = .fileDescriptorResponse(files_)
        case .extensionNumbers(let type, let numbers):
          var numbers_ = Grpc_Reflection_V1_ExtensionNumberResponse()
          numbers_.baseTypeName = type
          numbers_.extensionNumber = numbers
          answer.messageResponse = .allExtensionNumbersResponse(numbers_)
        case .services(let names):
          var list = Grpc_Reflection_V1_ListServiceResponse()
          list.service = names.map { name in
            var service = Grpc_Reflection_V1_ServiceResponse()
            service.name = name
            return service
          }
          answer.messageResponse = .listServicesResponse(list)
        case .error(let code, let message):
          var error = Grpc_Reflection_V1_ErrorResponse()
          error.errorCode = code
          error.errorMessage = message
          answer.messageResponse = .errorResponse(error)
        }
        try await response.write(answer)
      }
    }

    static func query(_ request: Grpc_Reflection_V1_ServerReflectionRequest.MessageRequest?) -> ReflectionIndex.Query {
      switch request {
      case .fileByFilename(let name)?: .fileByFilename(name)
      case .fileContainingSymbol(let symbol)?: .fileContainingSymbol(symbol)
      case .fileContainingExtension(let ext)?: .fileContainingExtension(type: ext.containingType, number: ext.extensionNumber)
      case .allExtensionNumbersOfType(let type)?: .allExtensionNumbersOfType(type)
      case .listServices?: .listServices
      case nil: .missing
      }
    }
  }

  /// `v1alpha` has the same messages as `v1`: requests and responses are converted through
  /// their identical wire encoding, so the answers are built in one place.
  struct V1Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
    let index: ReflectionIndex

    func serverReflectionInfo(
      request: RPCAsyncSequence<Grpc_Reflection_V1alpha_ServerReflectionRequest>,
      response: RPCWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
      context: ServerContext
    ) async throws {
      let v1 = V1(index: self.index)
      let converted = RPCAsyncSequence(wrapping: request.map { query in
        try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: try query.serializedBytes())
      })
      let writer = RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse> { answers in
        for answer in answers {
          try await response.write(
            Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: try answer.serializedBytes()))
        }
      }
      try await v1.serverReflectionInfo(request: converted, response: writer, context: context)
    }
  }
}

import InteropService
import GRPCReflectionV1Protos
import RPCCore
import ServiceKit
import Testing

@Suite("Server reflection")
struct ReflectionTests {
  private func ask(
    _ requests: [Grpc_Reflection_V1_ServerReflectionRequest.MessageRequest]
  ) async throws -> [Grpc_Reflection_V1_ServerReflectionResponse.MessageResponse?] {
    let services = StandardServices.adding(to: [TestService()], health: HealthService())
    return try await withLoopbackServer(services: services) { client in
      let reflection = Grpc_Reflection_V1_ServerReflection.Client(wrapping: client)
      let request = StreamingClientRequest<Grpc_Reflection_V1_ServerReflectionRequest> { writer in
        for query in requests {
          var message = Grpc_Reflection_V1_ServerReflectionRequest()
          message.messageRequest = query
          try await writer.write(message)
        }
      }
      return try await reflection.serverReflectionInfo(request: request) { response in
        var answers: [Grpc_Reflection_V1_ServerReflectionResponse.MessageResponse?] = []
        for try await message in response.messages { answers.append(message.messageResponse) }
        return answers
      }
    }
  }

  @Test func listsEveryExposedService() async throws {
    let answers = try await self.ask([.listServices("")])
    guard case .listServicesResponse(let list)? = answers.first else {
      Issue.record("expected a service list, got \(answers)")
      return
    }
    #expect(Set(list.service.map(\.name)).isSuperset(of: [
      "grpc.testing.TestService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]))
  }

  @Test(arguments: [
    "grpc.testing.TestService", "grpc.testing.TestService.FullDuplexCall", "grpc.testing.SimpleRequest",
    "grpc.testing.PayloadType", "grpc.health.v1.HealthCheckResponse.ServingStatus",
  ])
  func findsTheFileOfASymbol(_ symbol: String) async throws {
    let answers = try await self.ask([.fileContainingSymbol(symbol)])
    guard case .fileDescriptorResponse(let files)? = answers.first else {
      Issue.record("expected files for \(symbol), got \(answers)")
      return
    }
    #expect(!files.fileDescriptorProto.isEmpty)
  }

  @Test func describesTheFilesOfTheExposedServicesOnly() async throws {
    let answers = try await self.ask([.fileContainingSymbol("grpc.testing.Payload"), .fileContainingSymbol("identity.v1.Users")])
    guard case .fileDescriptorResponse? = answers.first else {
      Issue.record("expected grpc.testing's file, got \(answers)")
      return
    }
    guard case .errorResponse(let error)? = answers.last else {
      Issue.record("expected identity.v1 to be unknown to a server without it, got \(answers)")
      return
    }
    #expect(error.errorCode == 5)
  }

  @Test func unknownSymbolsAreNotFound() async throws {
    let answers = try await self.ask([.fileContainingSymbol("no.Such"), .fileByFilename("none.proto")])
    for answer in answers {
      guard case .errorResponse(let error)? = answer else {
        Issue.record("expected an error, got \(String(describing: answer))")
        continue
      }
      #expect(error.errorCode == 5)
    }
    #expect(answers.count == 2)
  }
}

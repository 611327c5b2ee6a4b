public import GRPCTestingProtos
public import RPCCore

/// `grpc.testing.TestService` as gRPC's interop test descriptions specify it, so that any gRPC
/// implementation's interop client can check this server.
///
/// Echo headers: `x-grpc-test-echo-initial` comes back in the initial metadata and
/// `x-grpc-test-echo-trailing-bin` in the trailing metadata. `response_status` makes a call fail
/// with the given code and message.
public struct TestService: Grpc_Testing_TestService.ServiceProtocol {
  public init() {}

  static let echoInitialKey = "x-grpc-test-echo-initial"
  static let echoTrailingKey = "x-grpc-test-echo-trailing-bin"

  /// The metadata to echo: (initial, trailing).
  static func echoed(_ metadata: Metadata) -> (Metadata, Metadata) {
    var initial = Metadata()
    var trailing = Metadata()
    for value in metadata[Self.echoInitialKey] { initial.add(Self.echoInitialKey, value) }
    for value in metadata[Self.echoTrailingKey] { trailing.add(Self.echoTrailingKey, value) }
    return (initial, trailing)
  }

  static func payload(size: Int32) throws -> Grpc_Testing_Payload {
    guard size >= 0 else {
      throw RPCError(code: .invalidArgument, message: "Negative payload size \(size).")
    }
    var payload = Grpc_Testing_Payload()
    payload.type = .compressable
    payload.body = [UInt8](repeating: 0, count: Int(size))
    return payload
  }

  static func check(_ status: Grpc_Testing_EchoStatus?, trailing: Metadata) throws {
    guard let status, status.code != 0 else { return }
    let code = RPCError.Code(rawValue: Int(status.code)) ?? .unknown
    throw RPCError(code: code, message: status.message, metadata: trailing)
  }

  /// Fails with `INVALID_ARGUMENT` when the client said it compressed the message and did not
  /// (the interop "compression probe").
  static func checkCompression(_ expectCompressed: Grpc_Testing_BoolValue?, _ context: ServerContext) throws {
    if expectCompressed?.value == true && !context.compression.lastRequestWasCompressed {
      throw RPCError(code: .invalidArgument, message: "Expected a compressed request message.")
    }
  }

  public func emptyCall(
    request: ServerRequest<Grpc_Testing_Empty>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_Empty> {
    let (initial, trailing) = Self.echoed(request.metadata)
    return ServerResponse(message: Grpc_Testing_Empty(), metadata: initial, trailingMetadata: trailing)
  }

  public func unaryCall(
    request: ServerRequest<Grpc_Testing_SimpleRequest>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_SimpleResponse> {
    let (initial, trailing) = Self.echoed(request.metadata)
    try Self.check(request.message.responseStatus, trailing: trailing)
    try Self.checkCompression(request.message.expectCompressed, context)
    context.compression.compressesResponses = request.message.responseCompressed?.value == true
    var response = Grpc_Testing_SimpleResponse()
    response.payload = try Self.payload(size: request.message.responseSize)
    return ServerResponse(message: response, metadata: initial, trailingMetadata: trailing)
  }

  public func cacheableUnaryCall(
    request: ServerRequest<Grpc_Testing_SimpleRequest>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_SimpleResponse> {
    try await self.unaryCall(request: request, context: context)
  }

  public func streamingOutputCall(
    request: ServerRequest<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let (initial, trailing) = Self.echoed(request.metadata)
    let message = request.message
    let compression = context.compression
    compression.compressesResponses = message.responseParameters.contains { $0.compressed?.value == true }
    return StreamingServerResponse(metadata: initial) { writer in
      for parameters in message.responseParameters {
        try await Self.respond(to: parameters, writer: writer, compression: compression)
      }
      try Self.check(message.responseStatus, trailing: trailing)
      return trailing
    }
  }

  static func respond(
    to parameters: Grpc_Testing_ResponseParameters,
    writer: RPCWriter<Grpc_Testing_StreamingOutputCallResponse>,
    compression: ServerMessageCompression
  ) async throws {
    compression.compressesResponses = parameters.compressed?.value == true
    if parameters.intervalUs > 0 {
      try await Task.sleep(for: .microseconds(Int64(parameters.intervalUs)))
    }
    var response = Grpc_Testing_StreamingOutputCallResponse()
    response.payload = try Self.payload(size: parameters.size)
    try await writer.write(response)
  }

  /// Answers one request of a bidirectional call: its status, then its responses.
  static func respond(
    to message: Grpc_Testing_StreamingOutputCallRequest,
    trailing: Metadata,
    writer: RPCWriter<Grpc_Testing_StreamingOutputCallResponse>,
    compression: ServerMessageCompression
  ) async throws {
    try Self.check(message.responseStatus, trailing: trailing)
    for parameters in message.responseParameters {
      try await Self.respond(to: parameters, writer: writer, compression: compression)
    }
  }

  public func streamingInputCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingInputCallRequest>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_StreamingInputCallResponse> {
    let (initial, trailing) = Self.echoed(request.metadata)
    var total = 0
    for try await message in request.messages {
      try Self.checkCompression(message.expectCompressed, context)
      total += message.payload?.body.count ?? 0
    }
    var response = Grpc_Testing_StreamingInputCallResponse()
    response.aggregatedPayloadSize = Int32(clamping: total)
    return ServerResponse(message: response, metadata: initial, trailingMetadata: trailing)
  }

  public func fullDuplexCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let (initial, trailing) = Self.echoed(request.metadata)
    let messages = request.messages
    let compression = context.compression
    return StreamingServerResponse(metadata: initial) { writer in
      for try await message in messages {
        try await Self.respond(to: message, trailing: trailing, writer: writer, compression: compression)
      }
      return trailing
    }
  }

  public func halfDuplexCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let (initial, trailing) = Self.echoed(request.metadata)
    let messages = request.messages
    let compression = context.compression
    return StreamingServerResponse(metadata: initial) { writer in
      var buffered: [Grpc_Testing_StreamingOutputCallRequest] = []
      for try await message in messages { buffered.append(message) }
      for message in buffered {
        try await Self.respond(to: message, trailing: trailing, writer: writer, compression: compression)
      }
      return trailing
    }
  }

  public func unimplementedCall(
    request: ServerRequest<Grpc_Testing_Empty>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_Empty> {
    throw RPCError(code: .unimplemented, message: "UnimplementedCall is not implemented by design.")
  }
}

public import RPCCore
internal import GRPCTestingProtos

/// The client side of gRPC's interop test cases, run against any `grpc.testing.TestService`.
///
/// Names follow gRPC's interop test descriptions (`empty_unary`, `large_unary`, ...). Each case
/// throws ``InteropTestFailure`` when the server does not behave as described.
public struct InteropTestCases: Sendable {
  private let client: Grpc_Testing_TestService.Client
  private let unimplemented: Grpc_Testing_UnimplementedService.Client

  public init(client: RPCClient) {
    self.client = Grpc_Testing_TestService.Client(wrapping: client)
    self.unimplemented = Grpc_Testing_UnimplementedService.Client(wrapping: client)
  }

  /// Every case this client implements.
  public static let names = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
    "empty_stream", "status_code_and_message", "special_status_message", "custom_metadata",
    "unimplemented_method", "unimplemented_service", "timeout_on_sleeping_server",
    "client_compressed_unary", "server_compressed_unary", "client_compressed_streaming",
    "server_compressed_streaming",
  ]

  /// Runs the case called `name`.
  public func run(_ name: String) async throws {
    switch name {
    case "empty_unary": try await self.emptyUnary()
    case "large_unary": try await self.largeUnary()
    case "client_streaming": try await self.clientStreaming()
    case "server_streaming": try await self.serverStreaming()
    case "ping_pong": try await self.pingPong()
    case "empty_stream": try await self.emptyStream()
    case "status_code_and_message": try await self.statusCodeAndMessage()
    case "special_status_message": try await self.specialStatusMessage()
    case "custom_metadata": try await self.customMetadata()
    case "unimplemented_method": try await self.unimplementedMethod()
    case "unimplemented_service": try await self.unimplementedService()
    case "timeout_on_sleeping_server": try await self.timeoutOnSleepingServer()
    case "client_compressed_unary": try await self.clientCompressedUnary()
    case "server_compressed_unary": try await self.serverCompressedUnary()
    case "client_compressed_streaming": try await self.clientCompressedStreaming()
    case "server_compressed_streaming": try await self.serverCompressedStreaming()
    default: throw InteropTestFailure("unknown test case '\(name)'")
    }
  }

  private static func payload(_ size: Int) -> Grpc_Testing_Payload {
    var payload = Grpc_Testing_Payload()
    payload.body = [UInt8](repeating: 0, count: size)
    return payload
  }

  func emptyUnary() async throws {
    let response = try await self.client.emptyCall(Grpc_Testing_Empty())
    try expect(response == Grpc_Testing_Empty(), "EmptyCall returned a non-empty message")
  }

  func largeUnary() async throws {
    var request = Grpc_Testing_SimpleRequest()
    request.responseType = .compressable
    request.responseSize = 314_159
    request.payload = Self.payload(271_828)
    let response = try await self.client.unaryCall(request)
    try expect(response.payload?.body.count == 314_159, "wrong response size")
    try expect(response.payload?.body.allSatisfy { $0 == 0 } == true, "response body not zeros")
  }

  func clientStreaming() async throws {
    let sizes = [27_182, 8, 1_828, 45_904]
    let request = StreamingClientRequest<Grpc_Testing_StreamingInputCallRequest> { writer in
      for size in sizes {
        var message = Grpc_Testing_StreamingInputCallRequest()
        message.payload = Self.payload(size)
        try await writer.write(message)
      }
    }
    let response = try await self.client.streamingInputCall(request: request)
    try expect(response.message.aggregatedPayloadSize == 74_922, "wrong aggregated size \(response.message.aggregatedPayloadSize)")
  }

  func serverStreaming() async throws {
    let sizes: [Int32] = [31_415, 9, 2_653, 58_979]
    var request = Grpc_Testing_StreamingOutputCallRequest()
    request.responseParameters = sizes.map { size in
      var parameters = Grpc_Testing_ResponseParameters()
      parameters.size = size
      return parameters
    }
    let received = try await self.client.streamingOutputCall(request: ClientRequest(message: request)) { response in
      var received: [Int] = []
      for try await message in response.messages { received.append(message.payload?.body.count ?? 0) }
      return received
    }
    try expect(received == sizes.map(Int.init), "wrong response sizes \(received)")
  }

  func pingPong() async throws {
    let requestSizes = [27_182, 8, 1_828, 45_904]
    let responseSizes: [Int32] = [31_415, 9, 2_653, 58_979]
    let (requests, continuation) = AsyncStream.makeStream(of: Grpc_Testing_StreamingOutputCallRequest.self)
    let request = StreamingClientRequest<Grpc_Testing_StreamingOutputCallRequest> { writer in
      for try await message in requests { try await writer.write(message) }
    }
    @Sendable func next(_ index: Int) -> Grpc_Testing_StreamingOutputCallRequest {
      var message = Grpc_Testing_StreamingOutputCallRequest()
      var parameters = Grpc_Testing_ResponseParameters()
      parameters.size = responseSizes[index]
      message.responseParameters = [parameters]
      message.payload = Self.payload(requestSizes[index])
      return message
    }
    continuation.yield(next(0))
    let received = try await self.client.fullDuplexCall(request: request) { response in
      var received: [Int] = []
      for try await message in response.messages {
        received.append(message.payload?.body.count ?? 0)
        if received.count < requestSizes.count {
          continuation.yield(next(received.count))
        } else {
          continuation.finish()
        }
      }
      return received
    }
    try expect(received == responseSizes.map(Int.init), "wrong ping-pong sizes \(received)")
  }

  func emptyStream() async throws {
    let request = StreamingClientRequest<Grpc_Testing_StreamingOutputCallRequest> { _ in }
    let count = try await self.client.fullDuplexCall(request: request) { response in
      var count = 0
      for try await _ in response.messages { count += 1 }
      return count
    }
    try expect(count == 0, "expected no responses, got \(count)")
  }

  func statusCodeAndMessage() async throws {
    var request = Grpc_Testing_SimpleRequest()
    var status = Grpc_Testing_EchoStatus()
    status.code = 2
    status.message = "test status message"
    request.responseStatus = status
    do {
      _ = try await self.client.unaryCall(request)
      throw InteropTestFailure("expected UNKNOWN")
    } catch let error as RPCError {
      try expect(error.code == .unknown && error.message == "test status message", "got \(error)")
    }
  }

  func specialStatusMessage() async throws {
    let message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
    var request = Grpc_Testing_SimpleRequest()
    var status = Grpc_Testing_EchoStatus()
    status.code = 2
    status.message = message
    request.responseStatus = status
    do {
      _ = try await self.client.unaryCall(request)
      throw InteropTestFailure("expected UNKNOWN")
    } catch let error as RPCError {
      try expect(error.code == .unknown && error.message == message, "got \(error)")
    }
  }

  func customMetadata() async throws {
    let initialValue = "test_initial_metadata_value"
    let trailingValue: [UInt8] = [0x0A, 0x0B, 0x0A, 0x0B, 0x0A, 0x0B]
    var metadata = Metadata()
    metadata.add("x-grpc-test-echo-initial", initialValue)
    metadata.add("x-grpc-test-echo-trailing-bin", trailingValue)
    var request = Grpc_Testing_SimpleRequest()
    request.responseSize = 314_159
    request.payload = Self.payload(271_828)
    let response = try await self.client.unaryCall(request: ClientRequest(message: request, metadata: metadata))
    try expect(response.metadata.firstString("x-grpc-test-echo-initial") == initialValue, "initial metadata not echoed")
    try expect(response.trailingMetadata.firstBinary("x-grpc-test-echo-trailing-bin") == trailingValue, "trailing metadata not echoed")
  }

  func unimplementedMethod() async throws {
    do {
      _ = try await self.client.unimplementedCall(Grpc_Testing_Empty())
      throw InteropTestFailure("expected UNIMPLEMENTED")
    } catch let error as RPCError {
      try expect(error.code == .unimplemented, "got \(error)")
    }
  }

  func unimplementedService() async throws {
    do {
      _ = try await self.unimplemented.unimplementedCall(Grpc_Testing_Empty())
      throw InteropTestFailure("expected UNIMPLEMENTED")
    } catch let error as RPCError {
      try expect(error.code == .unimplemented, "got \(error)")
    }
  }

  func timeoutOnSleepingServer() async throws {
    let request = StreamingClientRequest<Grpc_Testing_StreamingOutputCallRequest> { writer in
      var message = Grpc_Testing_StreamingOutputCallRequest()
      message.payload = Self.payload(27_182)
      try await writer.write(message)
      try await Task.sleep(for: .seconds(10))
    }
    do {
      try await self.client.fullDuplexCall(request: request, options: CallOptions(timeout: .milliseconds(1))) { response in
        for try await _ in response.messages {}
      }
      throw InteropTestFailure("expected DEADLINE_EXCEEDED")
    } catch let error as RPCError {
      try expect(error.code == .deadlineExceeded, "got \(error)")
    }
  }
}

extension InteropTestCases {
  private static func bool(_ value: Bool) -> Grpc_Testing_BoolValue {
    var bool = Grpc_Testing_BoolValue()
    bool.value = value
    return bool
  }

  func clientCompressedUnary() async throws {
    var request = Grpc_Testing_SimpleRequest()
    request.responseSize = 314_159
    request.payload = Self.payload(271_828)
    request.expectCompressed = Self.bool(true)
    // The probe: claiming compression without compressing must be refused.
    do {
      _ = try await self.client.unaryCall(request)
      throw InteropTestFailure("expected INVALID_ARGUMENT for an uncompressed probe")
    } catch let error as RPCError {
      try expect(error.code == .invalidArgument, "probe got \(error)")
    }
    let compressed = try await self.client.unaryCall(request, options: CallOptions(compression: .gzip))
    try expect(compressed.payload?.body.count == 314_159, "wrong compressed response size")
    request.expectCompressed = Self.bool(false)
    let plain = try await self.client.unaryCall(request)
    try expect(plain.payload?.body.count == 314_159, "wrong uncompressed response size")
  }

  func serverCompressedUnary() async throws {
    for compressed in [true, false] {
      var request = Grpc_Testing_SimpleRequest()
      request.responseSize = 314_159
      request.payload = Self.payload(271_828)
      request.responseCompressed = Self.bool(compressed)
      let response = try await self.client.unaryCall(request)
      try expect(response.payload?.body.count == 314_159, "wrong response size")
    }
  }

  func clientCompressedStreaming() async throws {
    let request = StreamingClientRequest<Grpc_Testing_StreamingInputCallRequest> { writer in
      for size in [27_182, 45_904] {
        var message = Grpc_Testing_StreamingInputCallRequest()
        message.payload = Self.payload(size)
        message.expectCompressed = Self.bool(true)
        try await writer.write(message)
      }
    }
    let response = try await self.client.streamingInputCall(request: request, options: CallOptions(compression: .gzip))
    try expect(response.message.aggregatedPayloadSize == 73_086, "wrong aggregated size")
  }

  func serverCompressedStreaming() async throws {
    var request = Grpc_Testing_StreamingOutputCallRequest()
    request.responseParameters = [(31_415, true), (92_653, false)].map { size, compressed in
      var parameters = Grpc_Testing_ResponseParameters()
      parameters.size = Int32(size)
      parameters.compressed = Self.bool(compressed)
      return parameters
    }
    let sizes = try await self.client.streamingOutputCall(request: ClientRequest(message: request)) { response in
      var sizes: [Int] = []
      for try await message in response.messages { sizes.append(message.payload?.body.count ?? 0) }
      return sizes
    }
    try expect(sizes == [31_415, 92_653], "wrong sizes \(sizes)")
  }
}

/// An interop test case failed.
public struct InteropTestFailure: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
  if !condition { throw InteropTestFailure(message()) }
}

import InteropService
import GRPCHealthV1Protos
import GRPCTestingProtos
import RPCCore
import RPCHTTP2
import ServiceKit
import Synchronization
import Testing

@Suite("Unary calls over loopback HTTP/2")
struct UnaryCallTests {
  @Test func unaryCallRoundTripsMessages() async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var request = simpleRequest(responseSize: 314_159)
      request.payload = payload(271_828)
      let response = try await service.unaryCall(request)
      #expect(response.payload?.body.count == 314_159)
    }
  }

  @Test func aTimeoutOfCenturiesIsSentAsTheLargestOneInsteadOfTrapping() async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var options = CallOptions.defaults
      options.timeout = .seconds(20_000_000_000)
      let response = try await service.unaryCall(simpleRequest(responseSize: 3), options: options)
      #expect(response.payload?.body.count == 3)
    }
  }

  @Test(arguments: RPCError.Code.allCases)
  func everyStatusCodeReachesTheClientWithItsMessage(_ code: RPCError.Code) async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let message = "failed: 100% ✓\n\(code)"
      let error = await #expect(throws: RPCError.self) {
        _ = try await service.unaryCall(simpleRequest(responseSize: 0, status: (Int32(code.rawValue), message)))
      }
      #expect(error?.code == code)
      #expect(error?.message == message)
    }
  }

  @Test func textAndBinaryMetadataTravelBothWays() async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var metadata = Metadata()
      metadata.add("x-grpc-test-echo-initial", "initial value")
      metadata.add("x-grpc-test-echo-trailing-bin", [0, 1, 2, 0xFF])
      let response = try await service.unaryCall(
        request: ClientRequest(message: simpleRequest(responseSize: 1), metadata: metadata))
      #expect(response.metadata.firstString("x-grpc-test-echo-initial") == "initial value")
      #expect(response.trailingMetadata.firstBinary("x-grpc-test-echo-trailing-bin") == [0, 1, 2, 0xFF])
    }
  }

  @Test func connectionSpecificFieldsInMetadataAreNotSent() async throws {
    // RFC 9113 8.2.2: an HTTP/2 message with `connection` (and the like) is malformed, and the
    // peer resets the stream; `content-type` and `user-agent` the transport writes itself.
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var metadata = Metadata()
      for key in ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host",
        "content-type", "user-agent"]
      {
        metadata.add(key, "x")
      }
      metadata.add("x-grpc-test-echo-initial", "still here")
      let response = try await service.unaryCall(
        request: ClientRequest(message: simpleRequest(responseSize: 1), metadata: metadata))
      #expect(response.metadata.firstString("x-grpc-test-echo-initial") == "still here")
    }
  }

  @Test func richErrorDetailsTravelInTheTrailersUntouched() async throws {
    // `grpc-status-details-bin` is the one reserved key besides the retry pushback that both
    // ends carry as metadata. The interop service echoes `x-grpc-test-echo-trailing-bin`, so
    // send the details through a server interceptor that fails the call with them.
    let details: [UInt8] = [0x08, 0x09, 0x12, 0x01, 0x77, 0x00, 0xFF]
    try await withLoopbackServer(interceptors: [FailingWithDetails(details: details)]) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let error = await #expect(throws: RPCError.self) { _ = try await service.emptyCall(.init()) }
      #expect(error?.code == .failedPrecondition)
      #expect(error?.metadata.firstBinary(Metadata.statusDetailsKey) == details)
    }
  }

  @Test func unknownServiceIsUnimplemented() async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_UnimplementedService.Client(wrapping: client)
      let error = await #expect(throws: RPCError.self) {
        _ = try await service.unimplementedCall(Grpc_Testing_Empty())
      }
      #expect(error?.code == .unimplemented)
    }
  }

  @Test func requestOverTheServerLimitIsResourceExhausted() async throws {
    try await withLoopbackServer(configuration: .init(maxReceiveMessageBytes: 1024, threads: 1)) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var request = simpleRequest(responseSize: 0)
      request.payload = payload(2048)
      let error = await #expect(throws: RPCError.self) { _ = try await service.unaryCall(request) }
      #expect(error?.code == .resourceExhausted)
      // The connection and server keep working.
      _ = try await service.emptyCall(Grpc_Testing_Empty())
    }
  }

  @Test func responseOverTheClientLimitIsResourceExhausted() async throws {
    try await withLoopbackServer(clientConfiguration: .init(maxReceiveMessageBytes: 1000)) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let error = await #expect(throws: RPCError.self) {
        _ = try await service.unaryCall(simpleRequest(responseSize: 5000))
      }
      #expect(error?.code == .resourceExhausted)
      _ = try await service.unaryCall(simpleRequest(responseSize: 10))
    }
  }

  @Test func manyConcurrentCallsMultiplexOverOneConnection() async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let sizes = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
        for index in 0..<500 {
          group.addTask {
            let response = try await service.unaryCall(simpleRequest(responseSize: Int32(index % 100)))
            return (index, response.payload?.body.count ?? -1)
          }
        }
        var sizes: [Int: Int] = [:]
        for try await (index, size) in group { sizes[index] = size }
        return sizes
      }
      #expect(sizes.count == 500)
      #expect(sizes.allSatisfy { $0.value == $0.key % 100 })
    }
  }

  @Test func healthCheckReportsServing() async throws {
    try await withLoopbackServer { client in
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      let response = try await health.check(Grpc_Health_V1_HealthCheckRequest())
      #expect(response.status == .serving)
    }
  }
}

@Suite("Interceptors")
struct InterceptorTests {
  final class Log: Sendable {
    let entries = Mutex<[String]>([])
  }

  struct Recording: ServerInterceptor {
    let name: String
    let log: Log
    func intercept<Result: Sendable>(
      metadata: Metadata, context: ServerContext,
      next: (Metadata, ServerContext) async throws -> Result
    ) async throws -> Result {
      self.log.entries.withLock { $0.append("\(self.name) before \(context.descriptor.method)") }
      var metadata = metadata
      metadata.add("x-grpc-test-echo-initial", self.name)
      defer { self.log.entries.withLock { $0.append("\(self.name) after") } }
      return try await next(metadata, context)
    }
  }

  struct RequireToken: ServerInterceptor {
    func intercept<Result: Sendable>(
      metadata: Metadata, context: ServerContext,
      next: (Metadata, ServerContext) async throws -> Result
    ) async throws -> Result {
      guard metadata.firstString("authorization") == "Bearer secret" else {
        throw RPCError(code: .unauthenticated, message: "Missing or wrong token.")
      }
      return try await next(metadata, context)
    }
  }

  struct AddToken: ClientInterceptor {
    func intercept<Result: Sendable>(
      metadata: Metadata, context: ClientContext,
      next: (Metadata, ClientContext) async throws -> Result
    ) async throws -> Result {
      var metadata = metadata
      metadata.add("authorization", "Bearer secret")
      return try await next(metadata, context)
    }
  }

  @Test func serverInterceptorsRunInOrderAroundTheHandler() async throws {
    let log = Log()
    let interceptors: [any ServerInterceptor] = [
      Recording(name: "outer", log: log), Recording(name: "inner", log: log),
    ]
    try await withLoopbackServer(interceptors: interceptors) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let response = try await service.emptyCall(request: ClientRequest(message: Grpc_Testing_Empty()))
      #expect(response.metadata["x-grpc-test-echo-initial"] == [.string("outer"), .string("inner")])
    }
    #expect(log.entries.withLock { $0 } == ["outer before EmptyCall", "inner before EmptyCall", "inner after", "outer after"])
  }

  @Test func serverInterceptorCanRejectACall() async throws {
    try await withLoopbackServer(interceptors: [RequireToken()]) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let error = await #expect(throws: RPCError.self) { _ = try await service.emptyCall(Grpc_Testing_Empty()) }
      #expect(error?.code == .unauthenticated)
    }
  }

  @Test func clientInterceptorAddsMetadataTheServerSees() async throws {
    try await withLoopbackServer(interceptors: [RequireToken()], clientInterceptors: [AddToken()]) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      _ = try await service.emptyCall(Grpc_Testing_Empty())
    }
  }
}

/// Fails every call with FAILED_PRECONDITION and `details` as its `grpc-status-details-bin`.
private struct FailingWithDetails: ServerInterceptor {
  let details: [UInt8]

  func intercept<Result: Sendable>(
    metadata: Metadata, context: ServerContext, next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result {
    var trailers = Metadata()
    trailers.add(Metadata.statusDetailsKey, self.details)
    throw RPCError(code: .failedPrecondition, message: "with details", metadata: trailers)
  }
}

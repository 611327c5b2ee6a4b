import GRPCTestingProtos
import RPCCore
import RPCHTTP2
import Synchronization
import Testing

/// A one-method service whose handler waits until it is cancelled and records that it was.
private struct WaitUntilCancelled: RegistrableRPCService {
  static let descriptor = MethodDescriptor(service: "test.Waiting", method: "Wait")
  let cancelled: CancellationProbe

  func registerMethods(with router: inout RPCRouter) {
    let probe = self.cancelled
    router.registerServerStreaming(
      Self.descriptor, input: Grpc_Testing_Empty.self, output: Grpc_Testing_Empty.self
    ) { _, _ in
      StreamingServerResponse { writer in
        do {
          try await writer.write(Grpc_Testing_Empty())
          try await Task.sleep(for: .seconds(30))
        } catch {
          probe.record()
          throw error
        }
        return [:]
      }
    }
  }
}

private final class CancellationProbe: Sendable {
  private let state = Mutex<ContinuousClock.Instant?>(nil)
  func record() { self.state.withLock { $0 = .now } }
  var cancelledAt: ContinuousClock.Instant? { self.state.withLock { $0 } }
}

@Suite("Connection management and cancellation")
struct ConnectionManagementTests {
  @Test func cancellingTheClientCallCancelsTheServerHandler() async throws {
    let probe = CancellationProbe()
    try await withLoopbackServer(services: [WaitUntilCancelled(cancelled: probe)]) { client in
      let received = Atomic<Int>(0)
      let call = Task {
        try await client.serverStreaming(
          request: ClientRequest(message: Grpc_Testing_Empty()),
          descriptor: WaitUntilCancelled.descriptor
        ) { (response: StreamingClientResponse<Grpc_Testing_Empty>) in
          for try await _ in response.messages { received.add(1, ordering: .relaxed) }
        }
      }
      // Cancel once the handler is known to be running (its first message arrived), not after a
      // fixed pause that a loaded machine may not honour.
      for _ in 0..<1000 where received.load(ordering: .relaxed) == 0 {
        try await Task.sleep(for: .milliseconds(10))
      }
      try #require(received.load(ordering: .relaxed) == 1)
      let cancelledAt = ContinuousClock.now
      call.cancel()
      let result = await call.result
      #expect(throws: RPCError.self) { try result.get() }
      for _ in 0..<500 where probe.cancelledAt == nil {
        try await Task.sleep(for: .milliseconds(10))
      }
      let handlerCancelled = try #require(probe.cancelledAt)
      // Typically a few milliseconds; the bound leaves room for a loaded 2-core CI machine.
      #expect(handlerCancelled - cancelledAt < .seconds(2))
    }
  }

  @Test func deadlineOfTheCallerCapsTheTimeoutOfCallsItMakes() throws {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(500))
    try RPCDeadline.$current.withValue(deadline) {
      let timeout = try #require(try RPCDeadline.effectiveTimeout(.seconds(10)))
      #expect(timeout <= .milliseconds(500))
      #expect(try RPCDeadline.effectiveTimeout(nil)! <= .milliseconds(500))
      #expect(try RPCDeadline.effectiveTimeout(.milliseconds(100)) == .milliseconds(100))
    }
    RPCDeadline.$current.withValue(ContinuousClock.now.advanced(by: .seconds(-1))) {
      #expect(throws: RPCError.self) { _ = try RPCDeadline.effectiveTimeout(.seconds(1)) }
    }
  }

  @Test func connectionsOverTheLimitAreRefused() async throws {
    try await withLoopbackServer(configuration: .init(threads: 1, maxConnections: 1)) { client in
      let first = Grpc_Testing_TestService.Client(wrapping: client)
      _ = try await first.emptyCall(Grpc_Testing_Empty())
      // A second transport means a second connection: refused while the first is open.
      let address = client.transport as! HTTP2ClientTransport
      let second = HTTP2ClientTransport(host: "127.0.0.1", port: address.port)
      let secondClient = Grpc_Testing_TestService.Client(wrapping: RPCClient(transport: second))
      let error = await #expect(throws: RPCError.self) {
        _ = try await secondClient.emptyCall(Grpc_Testing_Empty(), options: CallOptions(timeout: .seconds(5)))
      }
      #expect(error?.code == .unavailable)
      await second.close()
      _ = try await first.emptyCall(Grpc_Testing_Empty())
    }
  }

  @Test func keepalivePingsKeepAnIdleConnectionUsable() async throws {
    let configuration = HTTP2ClientTransport.Configuration(keepalive: (.milliseconds(50), .seconds(1)))
    try await withLoopbackServer(clientConfiguration: configuration) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      _ = try await service.emptyCall(Grpc_Testing_Empty())
      try await Task.sleep(for: .milliseconds(400))
      _ = try await service.emptyCall(Grpc_Testing_Empty())
    }
  }

  @Test func gzipCompressedCallsRoundTrip() async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var request = simpleRequest(responseSize: 100_000)
      request.payload = payload(100_000)
      var compressed = Grpc_Testing_BoolValue()
      compressed.value = true
      request.expectCompressed = compressed
      request.responseCompressed = compressed
      let response = try await service.unaryCall(request, options: CallOptions(compression: .gzip))
      #expect(response.payload?.body.count == 100_000)
    }
  }
}

import Auth
import InteropService
import Protos
import RPCCore
import ServiceKit
import ServiceRuntime
import ServiceTesting
import Testing

@Suite("ServiceTesting")
struct ServiceTestingTests {
  /// `UnaryCall` needs an editor, everything else a viewer.
  let policy = AuthPolicy(
    publicMethods: [], requiredRoles: ["/grpc.testing.TestService/UnaryCall": .editor], defaultRole: .viewer)

  func code(_ body: () async throws -> Void) async -> RPCError.Code? {
    do {
      try await body()
      return nil
    } catch {
      return (error as? RPCError)?.code
    }
  }

  @Test func aClientBoundToARoleIsAdmittedExactlyWhereThePolicyAllowsIt() async throws {
    try await withService(named: "interop", policy: self.policy) { _ in
      ((), HostedService(services: [TestService()]))
    } _: { service, _ in
      let anonymous = Grpc_Testing_TestService.Client(wrapping: service.client)
      let viewer = Grpc_Testing_TestService.Client(wrapping: service.client(as: .viewer))
      let editor = Grpc_Testing_TestService.Client(wrapping: service.client(as: .editor))
      #expect(await self.code { _ = try await anonymous.emptyCall(Grpc_Testing_Empty()) } == .unauthenticated)
      _ = try await viewer.emptyCall(Grpc_Testing_Empty())
      #expect(await self.code { _ = try await viewer.unaryCall(Grpc_Testing_SimpleRequest()) } == .permissionDenied)
      _ = try await editor.unaryCall(Grpc_Testing_SimpleRequest())
    }
  }

  @Test func theStandardServicesAreServedBesideTheServicesOwn() async throws {
    try await withService(named: "interop") { _ in
      ((), HostedService(services: [TestService()]))
    } _: { service, _ in
      let health = Grpc_Health_V1_Health.Client(wrapping: service.client)
      let answer = try await health.check(Grpc_Health_V1_HealthCheckRequest())
      #expect(answer.status == .serving)
    }
  }

  @Test func workersRunWhileTheTestDoesAndAreCancelledAfterIt() async throws {
    let started = AsyncStream<Void>.makeStream()
    let ended = AsyncStream<Void>.makeStream()
    let worker = BackgroundWorker("test-worker") {
      started.continuation.yield()
      defer { ended.continuation.yield() }
      try await Task.sleep(for: .seconds(600))
    }
    try await withService(named: "interop") { _ in
      ((), HostedService(services: [TestService()], workers: [worker]))
    } _: { _, _ in
      var iterator = started.stream.makeAsyncIterator()
      await iterator.next()
    }
    var iterator = ended.stream.makeAsyncIterator()
    await iterator.next()
  }
}

import Auth
import GRPCHealthV1Protos
import GRPCTestingProtos
import InteropService
import RPCCore
import ServiceKit
import ServiceRuntime
import ServiceTesting
import Testing

/// A service whose methods declare their access as generated ones do: `Read` needs a viewer,
/// `Write` an editor.
struct DeclaredAccessService: RegistrableRPCService {
  static let read = MethodDescriptor(service: "servicetesting.test.Probe", method: "Read", access: .role(.viewer))
  static let write = MethodDescriptor(service: "servicetesting.test.Probe", method: "Write", access: .role(.editor))

  func registerMethods(with router: inout RPCRouter) {
    for descriptor in [Self.read, Self.write] {
      router.registerUnary(descriptor, input: Grpc_Testing_Empty.self, output: Grpc_Testing_Empty.self) { _, _ in
        ServerResponse(message: Grpc_Testing_Empty())
      }
    }
  }
}

@Suite("ServiceTesting")
struct ServiceTestingTests {
  func code(_ body: () async throws -> Void) async -> RPCError.Code? {
    do {
      try await body()
      return nil
    } catch {
      return (error as? RPCError)?.code
    }
  }

  func call(_ client: RPCClient, _ method: MethodDescriptor) async throws {
    let _: ClientResponse<Grpc_Testing_Empty> = try await client.unary(
      request: ClientRequest(message: Grpc_Testing_Empty()), descriptor: method)
  }

  @Test func aClientBoundToARoleIsAdmittedExactlyWhereThePolicyAllowsIt() async throws {
    try await withService(named: "probe", authenticated: true) { _ in
      ((), HostedService(services: [DeclaredAccessService()]))
    } _: { service, _ in
      let viewer = service.client(as: .viewer)
      let editor = service.client(as: .editor)
      #expect(await self.code { try await self.call(service.client, DeclaredAccessService.read) } == .unauthenticated)
      try await self.call(viewer, DeclaredAccessService.read)
      #expect(await self.code { try await self.call(viewer, DeclaredAccessService.write) } == .permissionDenied)
      try await self.call(editor, DeclaredAccessService.write)
    }
  }

  @Test func anAuthenticatedServiceWithAMethodThatDeclaresNoAccessDoesNotStart() async throws {
    // grpc.testing.TestService is a third-party proto: its methods declare no access.
    await #expect(throws: StartupError.self) {
      try await withService(named: "interop", authenticated: true) { _ in
        ((), HostedService(services: [DeclaredAccessService(), TestService()]))
      } _: { _, _ in
        Issue.record("the service started")
      }
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

import InteropService
import Logging
import RPCCore
import ServiceKit
import ServiceLifecycle
@testable import ServiceRuntime
import Synchronization
import Testing

/// What happened, in order: the host's log messages and the test service's own events.
final class Events: Sendable {
  private let list = Mutex<[String]>([])
  func record(_ event: String) { self.list.withLock { $0.append(event) } }
  var all: [String] { self.list.withLock { $0 } }

  /// A logger whose messages are recorded (from the JSON line's `msg`).
  var logger: Logger {
    Logger(label: "host-test") { label in
      JSONLogHandler(label: label, level: .info) { bytes in
        let line = String(decoding: bytes, as: UTF8.self)
        guard let start = line.range(of: #""msg":""#), let end = line[start.upperBound...].firstIndex(of: "\"") else { return }
        self.record(String(line[start.upperBound..<end]))
      }
    }
  }
}

@Suite("Service host lifecycle")
struct ServiceHostTests {
  struct WorkerFailure: Error {}

  func host() throws -> ServiceHost {
    ServiceHost(name: "test", defaultPort: 0, server: try ServerOptions.parse(["--port", "0", "--drain-timeout", "1"]))
  }

  @Test func onShutdownTheServerDrainsThenTheWorkersEndThenTheServiceCloses() async throws {
    let events = Events()
    let (started, startedContinuation) = AsyncStream<Void>.makeStream()
    let worker = BackgroundWorker("worker") {
      events.record("worker started")
      startedContinuation.yield()
      do {
        try await Task.sleep(for: .seconds(600))
      } catch {
        events.record("worker cancelled")
        throw error
      }
    }
    let group = try await self.host().makeGroup(logger: events.logger, stoppingOn: []) { _ in
      HostedService(services: [TestService()], workers: [worker], close: { events.record("closed") })
    }
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      var iterator = started.makeAsyncIterator()
      await iterator.next()
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
    }
    #expect(events.all == ["test ready", "worker started", "test stopped", "worker cancelled", "closed"])
  }

  @Test func aWorkerThatThrowsStopsTheServiceWithItsErrorAndStillClosesIt() async throws {
    let events = Events()
    let group = try await self.host().makeGroup(logger: events.logger, stoppingOn: []) { _ in
      HostedService(
        services: [TestService()], workers: [BackgroundWorker("failing") { throw WorkerFailure() }],
        close: { events.record("closed") })
    }
    await #expect(throws: WorkerFailure.self) { try await group.run() }
    #expect(events.all == ["test ready", "failing failed", "test stopped", "closed"])
  }

  @Test func aServiceThatFailsToAssembleOpensNoPort() async throws {
    let events = Events()
    let group = try await self.host().makeGroup(logger: events.logger, stoppingOn: []) { _ in
      throw StartupError(message: "no such thing")
    }
    await #expect(throws: StartupError.self) { try await group.run() }
    #expect(events.all.isEmpty)
  }

  @Test func anAddressThatCannotBeBoundIsOneLineAndTheServiceIsStillClosed() async throws {
    let events = Events()
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: bind fails, nothing is sent.
    let host = ServiceHost(name: "test", defaultPort: 0, server: try ServerOptions.parse(["--listen", "192.0.2.1:1"]))
    let group = try await host.makeGroup(logger: events.logger, stoppingOn: []) { _ in
      HostedService(services: [TestService()], close: { events.record("closed") })
    }
    let error = await #expect(throws: StartupError.self) { try await group.run() }
    #expect(error?.message == "Cannot listen on 192.0.2.1:1: no such local address")
    #expect(events.all == ["closed"])
  }
}

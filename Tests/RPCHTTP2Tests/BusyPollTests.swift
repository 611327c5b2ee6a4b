#if canImport(Glibc)
import Glibc
#endif
import InteropService
import NIOCore
import GRPCTestingProtos
@testable import RPCHTTP2
import RPCCore
import Synchronization
import Testing

/// Answers EmptyCall on the event loop and remembers which loop served it.
private final class LoopRecordingHandler: EventLoopUnaryHandler {
  let loop = Mutex<(any EventLoop)?>(nil)

  func handle(_ call: EventLoopUnaryCall) -> Bool {
    guard call.descriptor.path == "/grpc.testing.TestService/EmptyCall" else { return false }
    self.loop.withLock { $0 = call.eventLoop }
    call.respond(headers: Metadata(), message: [], trailers: Metadata())
    return true
  }
}

/// Answers EmptyCall at once and holds every UnaryCall open until ``releaseAll()``.
///
/// @unchecked Sendable: `held` is only touched on the server's single loop.
private final class HoldingHandler: EventLoopUnaryHandler, @unchecked Sendable {
  let loop = Mutex<(any EventLoop)?>(nil)
  let heldCount = Atomic<Int>(0)
  private var held: [EventLoopUnaryCall] = []

  func handle(_ call: EventLoopUnaryCall) -> Bool {
    self.loop.withLock { $0 = call.eventLoop }
    switch call.descriptor.path {
    case "/grpc.testing.TestService/EmptyCall":
      call.respond(headers: Metadata(), message: [], trailers: Metadata())
    case "/grpc.testing.TestService/UnaryCall":
      self.held.append(call)
      self.heldCount.add(1, ordering: .sequentiallyConsistent)
    default:
      return false
    }
    return true
  }

  func releaseAll() async throws {
    let loop = try #require(self.loop.withLock { $0 })
    try await loop.submit {
      for call in self.held { call.respond(headers: Metadata(), message: [], trailers: Metadata()) }
      self.held = []
    }.get()
  }
}

/// CPU time the thread behind `loop` has used, in milliseconds.
private func loopThreadCPUMilliseconds(_ clock: clockid_t) -> Double {
  var spec = timespec()
  clock_gettime(clock, &spec)
  return Double(spec.tv_sec) * 1000 + Double(spec.tv_nsec) / 1_000_000
}

/// CPU milliseconds the thread behind `clock` uses while the caller sleeps for `duration`.
private func cpuMilliseconds(of clock: clockid_t, over duration: Duration) async throws -> Double {
  let start = loopThreadCPUMilliseconds(clock)
  try await Task.sleep(for: duration)
  return loopThreadCPUMilliseconds(clock) - start
}

private func cpuClock(of loop: any EventLoop) async throws -> clockid_t {
  try await loop.submit { () -> clockid_t in
    var clock = clockid_t()
    pthread_getcpuclockid(pthread_self(), &clock)
    return clock
  }.get()
}

/// How many times `loop`'s poller sent it round without sleeping while the caller slept for
/// `duration`. Unlike the CPU the spinning uses, the count does not shrink when other threads
/// keep the cores busy: each turn yields, so a crowded machine gives a polling loop less CPU
/// but it still turns, and a sleeping loop never does.
private func turns(of loop: any EventLoop, over duration: Duration) async throws -> Int {
  let poller = try #require(Loopback.server?.busyPollers[ObjectIdentifier(loop)])
  let before = try await loop.submit { poller.turns }.get()
  try await Task.sleep(for: duration)
  return try await loop.submit { poller.turns }.get() - before
}

@Suite("Busy polling after reads")
struct BusyPollTests {
  @Test func aReadKeepsTheLoopPollingForTheWindowThenItSleepsAgain() async throws {
    let handler = LoopRecordingHandler()
    let configuration = GRPCServer.Configuration(threads: 1, eventLoopUnaryHandler: handler, busyPollWindow: .milliseconds(500))
    try await withLoopbackServer(configuration: configuration) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      _ = try await service.emptyCall(request: ClientRequest(message: Grpc_Testing_Empty()))
      let loop = try #require(handler.loop.withLock { $0 })
      let clock = try await cpuClock(of: loop)

      // Inside the window the idle loop keeps going round although nothing arrives (thousands
      // of times on a quiet machine).
      let polled = try await turns(of: loop, over: .milliseconds(250))
      #expect(polled >= 3, "the loop went round \(polled) times in 250 ms of its polling window")

      // Once a whole window passes without a read it blocks again: no more turns, and a
      // sleeping loop uses hundredths of a ms of CPU.
      try await Task.sleep(for: .milliseconds(600))
      let afterwards = try await turns(of: loop, over: .milliseconds(300))
      #expect(afterwards == 0, "the loop went round \(afterwards) times in 300 ms after its window closed")
      let slept = try await cpuMilliseconds(of: clock, over: .milliseconds(300))
      #expect(slept < 2, "the loop used \(slept) ms of CPU in 300 ms after its window closed")

      // And it still serves calls, opening a new window.
      _ = try await service.emptyCall(request: ClientRequest(message: Grpc_Testing_Empty()))
      let again = try await turns(of: loop, over: .milliseconds(250))
      #expect(again >= 3, "the loop went round \(again) times in 250 ms of its next window")
    }
  }

  @Test func aLoopWithMoreThanAFewCallsOpenSleepsWhenIdleAndPollsAgainOnceTheyEnd() async throws {
    let handler = HoldingHandler()
    let configuration = GRPCServer.Configuration(threads: 1, eventLoopUnaryHandler: handler, busyPollWindow: .milliseconds(500))
    try await withLoopbackServer(configuration: configuration) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let openCalls = 6
      #expect(openCalls > EventLoopBusyPoller.maxOpenStreams, "more calls than the poller's limit")
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<openCalls {
          group.addTask { _ = try await service.unaryCall(request: ClientRequest(message: Grpc_Testing_SimpleRequest())) }
        }
        while handler.heldCount.load(ordering: .sequentiallyConsistent) < openCalls {
          try await Task.sleep(for: .milliseconds(5))
        }
        let loop = try #require(handler.loop.withLock { $0 })
        let clock = try await cpuClock(of: loop)
        // The reads that opened the calls were inside a window, but with six calls open the
        // loop sleeps when it has nothing to do.
        try await Task.sleep(for: .milliseconds(50))
        let idleTurns = try await turns(of: loop, over: .milliseconds(250))
        #expect(idleTurns == 0, "the loop went round \(idleTurns) times in 250 ms with \(openCalls) calls open")
        let used = try await cpuMilliseconds(of: clock, over: .milliseconds(250))
        #expect(used < 2, "the loop used \(used) ms of CPU in 250 ms with \(openCalls) calls open")
        try await handler.releaseAll()
        try await group.waitForAll()
      }

      // With the calls over, the next read opens a polling window again.
      _ = try await service.emptyCall(request: ClientRequest(message: Grpc_Testing_Empty()))
      let loop = try #require(handler.loop.withLock { $0 })
      let polled = try await turns(of: loop, over: .milliseconds(250))
      #expect(polled >= 3, "the loop went round \(polled) times in 250 ms of its polling window")
    }
  }

  @Test func withoutAWindowAnIdleLoopSleepsRightAway() async throws {
    let handler = LoopRecordingHandler()
    try await withLoopbackServer(configuration: .init(threads: 1, eventLoopUnaryHandler: handler)) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      _ = try await service.emptyCall(request: ClientRequest(message: Grpc_Testing_Empty()))
      let loop = try #require(handler.loop.withLock { $0 })
      let clock = try await cpuClock(of: loop)
      let used = try await cpuMilliseconds(of: clock, over: .milliseconds(250))
      #expect(used < 2, "the loop used \(used) ms of CPU in 250 idle ms")
    }
  }
}

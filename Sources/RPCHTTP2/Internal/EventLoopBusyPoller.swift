#if canImport(Glibc)
internal import Glibc
#endif
internal import NIOCore
internal import NIOPosix

/// Keeps one event loop polling its sockets without sleeping for a short window after each
/// read, so the next packet is picked up without the wake-up a sleeping thread (and, on a
/// virtual machine, a halted vCPU) costs: tens of microseconds per hop on loopback.
///
/// The loop watches the read end of a pipe of its own. While the window is open, every time
/// the loop finds the pipe readable it writes the next byte into it, so the loop's next wait for
/// I/O returns at once (with whatever sockets are ready) instead of sleeping; each turn also
/// yields the core (`sched_yield`) so other runnable threads on it are not starved. Once no
/// read has arrived for a whole window the pipe stays empty and the loop blocks as usual. It
/// trades CPU for latency, like HAProxy's `busy-polling`: off unless configured
/// (``GRPCServer/Configuration/busyPollWindow``).
///
/// It spins only while the loop has at most ``maxOpenStreams`` calls open. With more, the next
/// event is never far off anyway and the loop is rarely idle; spinning then only takes CPU from
/// the threads (clients, backends) that produce that event, which costs throughput on a busy
/// machine. So the latency win stays where it matters, at low concurrency.
///
/// Touched only on its own loop's thread, except ``start()`` and ``stop()``.
final class EventLoopBusyPoller: @unchecked Sendable {
  let eventLoop: any EventLoop
  private let window: TimeAmount
  private var deadline = NIODeadline.uptimeNanoseconds(0)
  private var turning = false
  private var writeDescriptor: CInt = -1
  private var channel: (any Channel)?
  /// Streams open on this loop's server connections (counted by their handlers).
  private var openStreams = 0
  /// Times the loop was sent round without sleeping (for tests: a count, unlike the CPU the
  /// spinning uses, does not depend on what else the machine is running).
  private(set) var turns = 0

  /// Beyond this many open streams on the loop, it sleeps as usual when idle.
  static let maxOpenStreams = 4

  init(eventLoop: any EventLoop, window: Duration) {
    self.eventLoop = eventLoop
    self.window = TimeAmount(window)
  }

  /// Creates the pipe and registers its read end with the loop.
  func start() async throws {
    var descriptors: [CInt] = [-1, -1]
    guard pipe(&descriptors) == 0 else { throw IOError(errnoCode: errno, reason: "pipe") }
    // NIO makes the read end non-blocking itself; the write end is ours.
    _ = fcntl(descriptors[1], F_SETFL, fcntl(descriptors[1], F_GETFL) | O_NONBLOCK)
    _ = fcntl(descriptors[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(descriptors[1], F_SETFD, FD_CLOEXEC)
    let channel: any Channel
    do {
      channel = try await NIOPipeBootstrap(group: self.eventLoop)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(TurnHandler(poller: self))
          }
        }
        .takingOwnershipOfDescriptor(input: descriptors[0])
        .get()
    } catch {
      close(descriptors[0])
      close(descriptors[1])
      throw error
    }
    // From here the channel owns the read end.
    let writeEnd = descriptors[1]
    try await self.eventLoop.submit {
      self.channel = channel
      self.writeDescriptor = writeEnd
    }.get()
  }

  /// Closes the pipe; the loop no longer spins after this.
  func stop() async {
    let channel = try? await self.eventLoop.submit { () -> (any Channel)? in
      let channel = self.channel
      self.channel = nil
      if self.writeDescriptor >= 0 { close(self.writeDescriptor) }
      self.writeDescriptor = -1
      return channel
    }.get()
    try? await channel?.close()
  }

  /// Opens (or extends) the window: called when a read arrived on one of the loop's channels.
  func noteActivity() {
    self.deadline = .now() + self.window
    guard !self.turning, self.writeDescriptor >= 0, self.openStreams <= Self.maxOpenStreams else { return }
    self.turning = true
    self.poke()
  }

  /// A stream opened on one of the loop's connections.
  func streamOpened() { self.openStreams += 1 }

  /// `count` streams closed on one of the loop's connections.
  func streamsClosed(_ count: Int = 1) { self.openStreams -= count }

  /// The loop found the pipe readable: go round once more while the window is open and the
  /// loop has few calls open.
  fileprivate func turn() {
    guard self.writeDescriptor >= 0, NIODeadline.now() < self.deadline, self.openStreams <= Self.maxOpenStreams else {
      self.turning = false
      return
    }
    sched_yield()
    self.poke()
  }

  private func poke() {
    var byte: UInt8 = 1
    self.turns += 1
    if write(self.writeDescriptor, &byte, 1) != 1 {
      // Full (cannot happen with one byte in flight) or closed: stop turning.
      self.turning = false
    }
  }

  private final class TurnHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let poller: EventLoopBusyPoller

    init(poller: EventLoopBusyPoller) { self.poller = poller }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelReadComplete(context: ChannelHandlerContext) {
      self.poller.turn()
    }
  }
}

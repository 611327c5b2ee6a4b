internal import CLibPQ
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One I/O thread that waits for the sockets of its PostgreSQL connections (epoll) and runs
/// Swift tasks that prefer it.
///
/// A query is sent by the calling task itself (`PQsendQueryPrepared` + flush); the loop then
/// waits for the answer, reads it (`PQconsumeInput`, `PQisBusy`, `PQgetResult`) and resumes the
/// task. A task that prefers this executor (`Task(executorPreference: loop)`,
/// `withTaskExecutorPreference(loop) { ... }`) resumes on this same thread without any
/// cross-thread wake-up: one thread serves many connections, like pgbench's threads.
///
/// Loops live as long as the process (``PostgresEventLoopGroup/shared`` is created on first use).
/// Never block inside a task running on a loop: it would stall every connection of the loop.
public final class PostgresEventLoop: TaskExecutor, @unchecked Sendable, CustomStringConvertible {
  // @unchecked Sendable: `epollFD` and `eventFD` are immutable; `remote` is a Mutex; `local`
  // and `spare` are only touched on the loop's own thread (enqueue checks `isCurrent` first).

  private struct Remote: ~Copyable {
    var jobs: [UnownedJob] = []
    /// The loop is about to block (or blocks) in epoll_wait with no timeout: wake it.
    var sleeping = false
    /// Watches deregistered since the last poll, released at the start of the next turn.
    var releases: [UncheckedBox<UnsafeMutableRawPointer>] = []
    /// Closures to run on the loop thread (rare: see ``execute(_:)``).
    var closures: [@Sendable () -> Void] = []
  }

  /// Position in its group, for logs.
  public let index: Int
  private let epollFD: Int32
  private let eventFD: Int32
  private let remote = Mutex(Remote())
  private var local: [UnownedJob] = []
  private var spare: [UnownedJob] = []

  init(index: Int) {
    self.index = index
    self.epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
    self.eventFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    // Only resource exhaustion (EMFILE/ENFILE/ENOMEM) fails here; nothing can work without them.
    precondition(self.epollFD >= 0 && self.eventFD >= 0, "PostgresEventLoop: epoll/eventfd failed (errno \(errno))")
    var event = epoll_event()
    event.events = EPOLLIN.rawValue
    event.data.ptr = nil  // nil marks the wake-up eventfd
    precondition(epoll_ctl(self.epollFD, EPOLL_CTL_ADD, self.eventFD, &event) == 0, "PostgresEventLoop: epoll_ctl failed")
    self.local.reserveCapacity(64)
    self.spare.reserveCapacity(64)

    let context = Unmanaged.passRetained(self).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, eventLoopThreadMain, context)
    precondition(rc == 0, "pthread_create failed with \(rc) for PostgresEventLoop \(index)")
    pthread_detach(thread)
  }

  public var description: String { "PostgresEventLoop(\(self.index))" }

  /// The loop whose thread is running the caller, if any.
  public static var current: PostgresEventLoop? {
    guard let pointer = pthread_getspecific(currentLoopKey.key) else { return nil }
    return Unmanaged<PostgresEventLoop>.fromOpaque(pointer).takeUnretainedValue()
  }

  /// Whether the caller runs on this loop's thread.
  var isCurrent: Bool {
    pthread_getspecific(currentLoopKey.key) == Unmanaged.passUnretained(self).toOpaque()
  }

  // MARK: TaskExecutor

  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    if self.isCurrent {
      // From a job or a socket handler on this thread: runs in this turn or the next, no wake-up.
      self.local.append(job)
      return
    }
    let wake = self.remote.withLock { remote -> Bool in
      remote.jobs.append(job)
      let wake = remote.sleeping
      remote.sleeping = false
      return wake
    }
    if wake { self.wakeUp() }
  }

  /// Runs `body` on the loop thread, in its next turn.
  func execute(_ body: @escaping @Sendable () -> Void) {
    let wake = self.remote.withLock { remote -> Bool in
      remote.closures.append(body)
      let wake = remote.sleeping
      remote.sleeping = false
      return wake
    }
    if wake { self.wakeUp() }
  }

  private func wakeUp() {
    var one: UInt64 = 1
    // EAGAIN (counter saturated) still leaves the eventfd readable: the loop wakes either way.
    _ = write(self.eventFD, &one, 8)
  }

  // MARK: Sockets

  /// Adds `socket` to the epoll set, edge-triggered for readability (and hang-up/error): each
  /// arrival of data is delivered once to `watch.connection?.socketReady()` on this loop's
  /// thread, so the registration never changes while the connection lives (no `epoll_ctl` per
  /// query). The registration keeps `watch` alive until ``deregister(socket:watch:)``. Returns
  /// `false` when the socket cannot be watched.
  func register(socket: Int32, watch: SocketWatch) -> Bool {
    var event = epoll_event()
    event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
    event.data.ptr = Unmanaged.passRetained(watch).toOpaque()
    if epoll_ctl(self.epollFD, EPOLL_CTL_ADD, socket, &event) == 0 { return true }
    Unmanaged.passUnretained(watch).release()
    return false
  }

  /// Removes a registration: `socket` leaves the epoll set (when it is still open: `-1` when
  /// libpq already closed it, which removed it), and `watch` is released on the loop thread
  /// once no notification that is already being delivered can refer to it.
  func deregister(socket: Int32, watch: SocketWatch) {
    if socket >= 0 {
      var event = epoll_event()
      _ = epoll_ctl(self.epollFD, EPOLL_CTL_DEL, socket, &event)
    }
    let pointer = Unmanaged.passUnretained(watch).toOpaque()
    self.remote.withLock { $0.releases.append(UncheckedBox(pointer)) }
  }

  // MARK: The loop

  fileprivate func run() {
    pthread_setspecific(currentLoopKey.key, Unmanaged.passUnretained(self).toOpaque())
    let capacity: Int32 = 64
    let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(capacity))
    let executor = self.asUnownedTaskExecutor()
    while true {
      // 1. Jobs: those queued from other threads, then those queued here. Watches deregistered
      //    before this point cannot appear in a later epoll_wait: release them.
      let (releases, closures) = self.remote.withLock {
        remote -> ([UncheckedBox<UnsafeMutableRawPointer>], [@Sendable () -> Void]) in
        if !remote.jobs.isEmpty {
          self.local.append(contentsOf: remote.jobs)
          remote.jobs.removeAll(keepingCapacity: true)
        }
        if remote.releases.isEmpty && remote.closures.isEmpty { return ([], []) }
        defer {
          remote.releases.removeAll()
          remote.closures.removeAll()
        }
        return (remote.releases, remote.closures)
      }
      for release in releases { Unmanaged<SocketWatch>.fromOpaque(release.value).release() }
      for closure in closures { closure() }
      if !self.local.isEmpty {
        // Jobs enqueued while these run go to the fresh `local` and run after the next poll,
        // so sockets are never starved by a task that keeps yielding.
        swap(&self.local, &self.spare)
        for job in self.spare { job.runSynchronously(on: executor) }
        self.spare.removeAll(keepingCapacity: true)
      }

      // 2. Sockets: block only when there is nothing else to do.
      var timeout: Int32 = 0
      if self.local.isEmpty {
        timeout = self.remote.withLock { remote -> Int32 in
          if !remote.jobs.isEmpty || !remote.closures.isEmpty { return 0 }
          remote.sleeping = true
          return -1
        }
      }
      let count = epoll_wait(self.epollFD, events, capacity, timeout)
      if timeout != 0 { self.remote.withLock { $0.sleeping = false } }
      if count < 0 {
        // EINTR: a signal; anything else would be a programming error (bad epoll fd).
        precondition(errno == EINTR, "epoll_wait failed (errno \(errno))")
        continue
      }
      for i in 0..<Int(count) {
        guard let pointer = events[i].data.ptr else {
          var value: UInt64 = 0
          _ = read(self.eventFD, &value, 8)
          continue
        }
        Unmanaged<SocketWatch>.fromOpaque(pointer).takeUnretainedValue().connection?.socketReady()
      }
    }
  }
}

/// What an epoll registration points to: outlives the registration's last notification (the
/// loop releases it), while the connection itself may go away first.
///
/// @unchecked Sendable: `connection` is set once in init; weak references are thread-safe.
final class SocketWatch: @unchecked Sendable {
  weak var connection: PostgresConnection?
  init(_ connection: PostgresConnection) { self.connection = connection }
}

/// A fixed set of ``PostgresEventLoop``s. Connections are spread over the loops; a connection
/// opened by a task running on a loop stays on that loop.
public final class PostgresEventLoopGroup: Sendable {
  /// The loops.
  public let loops: [PostgresEventLoop]
  private let nextIndex = Atomic<Int>(0)

  /// Starts `loopCount` loop threads (at least one). They run until the process exits.
  public init(loopCount: Int) {
    self.loops = (0..<max(1, loopCount)).map { PostgresEventLoop(index: $0) }
  }

  /// The group used by default: `POSTGRES_EVENT_LOOPS` loops when that is set (1...64), else
  /// one loop per four CPU cores (at least one, at most four). One loop thread drives tens of
  /// thousands of queries per second; the cores are better left to the application and,
  /// locally, PostgreSQL's backends (BENCHMARKS.md, "Database", has both counts measured).
  public static let shared = PostgresEventLoopGroup(
    loopCount: defaultLoopCount(
      setting: getenv("POSTGRES_EVENT_LOOPS").map { String(cString: $0) }, cores: defaultCoreCount()))

  /// The loop count of ``shared``: `setting` when it is a number in 1...64, else one per four
  /// of `cores` (at least one, at most four).
  static func defaultLoopCount(setting: String?, cores: Int) -> Int {
    if let setting, let count = Int(setting), (1...64).contains(count) { return count }
    return min(4, max(1, cores / 4))
  }

  /// The loop the caller runs on, when it belongs to this group; otherwise the next in turn.
  public func next() -> PostgresEventLoop {
    if let current = PostgresEventLoop.current, self.loops.contains(where: { $0 === current }) {
      return current
    }
    let index = self.nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue
    return self.loops[abs(index % self.loops.count)]
  }
}

private func defaultCoreCount() -> Int {
  Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

/// The thread-specific slot holding the loop of the current thread.
private final class CurrentLoopKey: Sendable {
  let key: pthread_key_t
  init() {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
    self.key = key
  }
}

private let currentLoopKey = CurrentLoopKey()

private func eventLoopThreadMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  guard let context else {
    preconditionFailure("event loop thread started without its context")
  }
  let loop = Unmanaged<PostgresEventLoop>.fromOpaque(context).takeRetainedValue()
  loop.run()
  return nil
}

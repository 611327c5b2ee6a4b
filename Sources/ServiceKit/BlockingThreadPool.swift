#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A fixed set of OS threads for work that blocks (argon2 password hashing, which runs for tens
/// of milliseconds on purpose), so that it never occupies a thread of Swift's cooperative pool,
/// where every other call's handler runs.
///
/// Threads start on first use, up to ``threadCount``, and live as long as the process; jobs
/// wait in submission order when all of them are busy.
public final class BlockingThreadPool: @unchecked Sendable {
  // @unchecked Sendable: `jobs`, `started` and `idle` are only touched while `mutex` is held;
  // `mutex` and `condition` are allocated once in init and never freed (the pool, like its
  // threads, lives as long as the process: see `deinit`).
  private typealias Job = () -> Void

  /// One pool for the process, one thread per core.
  public static let shared = BlockingThreadPool(threadCount: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

  /// The most threads the pool runs.
  public let threadCount: Int

  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let condition: UnsafeMutablePointer<pthread_cond_t>
  private var jobs: [Job] = []
  private var nextJob = 0
  private var started = 0
  private var idle = 0

  public init(threadCount: Int) {
    precondition(threadCount > 0, "a blocking thread pool needs at least one thread")
    self.threadCount = threadCount
    self.mutex = .allocate(capacity: 1)
    self.condition = .allocate(capacity: 1)
    pthread_mutex_init(self.mutex, nil)
    pthread_cond_init(self.condition, nil)
  }

  deinit {
    // Unreachable while a thread runs: each holds a strong reference to the pool.
    pthread_cond_destroy(self.condition)
    pthread_mutex_destroy(self.mutex)
    self.condition.deallocate()
    self.mutex.deallocate()
  }

  /// Runs `work` on one of the pool's threads and returns its result; the calling task waits
  /// without holding a thread. Cancellation does not interrupt `work`.
  public func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
      self.submit { continuation.resume(with: Swift.Result { try work() }) }
    }
  }

  private func submit(_ job: @escaping Job) {
    pthread_mutex_lock(self.mutex)
    self.jobs.append(job)
    // A thread more when the queued jobs outnumber the threads waiting for one.
    let startThread = self.jobs.count - self.nextJob > self.idle && self.started < self.threadCount
    if startThread { self.started += 1 }
    pthread_cond_signal(self.condition)
    pthread_mutex_unlock(self.mutex)
    if startThread { self.startThread() }
  }

  private func startThread() {
    let context = Unmanaged.passRetained(self).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, blockingThreadMain, context)
    // EAGAIN (resource limits) is not recoverable here: the job would never run.
    precondition(rc == 0, "pthread_create failed with \(rc) for the blocking thread pool")
    pthread_detach(thread)
  }

  fileprivate func runLoop() -> Never {
    while true {
      pthread_mutex_lock(self.mutex)
      while self.nextJob == self.jobs.count {
        self.idle += 1
        pthread_cond_wait(self.condition, self.mutex)
        self.idle -= 1
      }
      let job = self.jobs[self.nextJob]
      self.nextJob += 1
      if self.nextJob == self.jobs.count {
        // Drained: drop the consumed prefix so the array does not grow.
        self.jobs.removeAll(keepingCapacity: true)
        self.nextJob = 0
      }
      pthread_mutex_unlock(self.mutex)
      job()
    }
  }
}

#if canImport(Darwin)
private func blockingThreadMain(_ context: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
  Unmanaged<BlockingThreadPool>.fromOpaque(context).takeRetainedValue().runLoop()
}
#else
private func blockingThreadMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  Unmanaged<BlockingThreadPool>.fromOpaque(context!).takeRetainedValue().runLoop()
}
#endif

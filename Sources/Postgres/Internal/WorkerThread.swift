#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A dedicated OS thread that runs submitted jobs one after another, in submission order.
///
/// libpq's synchronous API blocks its calling thread, so every ``PostgresConnection`` confines all
/// of its libpq calls to one `WorkerThread`; blocking never touches Swift's cooperative pool.
///
/// The thread starts in `init` and keeps a strong reference to the worker until it exits. It exits
/// after ``shutdown()`` once every job submitted before the shutdown has run.
///
/// - Important: Jobs must not block waiting for *other* jobs of the same worker.
final class WorkerThread: @unchecked Sendable {
  // @unchecked Sendable: `jobs` and `stopping` are only read or written while `mutex` is held;
  // `mutex` and `condition` are allocated once in init and destroyed in deinit, after the thread
  // (which holds a strong reference to self) has exited.
  typealias Job = () -> Void

  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let condition: UnsafeMutablePointer<pthread_cond_t>
  private var jobs: [Job] = []
  private var stopping = false
  let name: String

  /// Starts the thread. `name` identifies it in logs and preconditions.
  init(name: String) {
    self.name = name
    self.mutex = .allocate(capacity: 1)
    self.condition = .allocate(capacity: 1)
    pthread_mutex_init(self.mutex, nil)
    pthread_cond_init(self.condition, nil)

    let context = Unmanaged.passRetained(self).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, workerThreadMain, context)
    // Documented failures are EAGAIN (resource limits) and EINVAL/EPERM (bad attributes); a
    // connection cannot work without its thread, and running out of threads is not recoverable here.
    precondition(rc == 0, "pthread_create failed with \(rc) for worker \(name)")
    pthread_detach(thread)
  }

  deinit {
    pthread_cond_destroy(self.condition)
    pthread_mutex_destroy(self.mutex)
    self.condition.deallocate()
    self.mutex.deallocate()
  }

  /// Enqueues `job`. Jobs submitted after ``shutdown()`` are dropped (and so released) at once.
  func submit(_ job: @escaping Job) {
    pthread_mutex_lock(self.mutex)
    if self.stopping {
      pthread_mutex_unlock(self.mutex)
      return
    }
    self.jobs.append(job)
    pthread_cond_signal(self.condition)
    pthread_mutex_unlock(self.mutex)
  }

  /// Asks the thread to exit after the jobs already submitted have run. Idempotent.
  func shutdown() {
    pthread_mutex_lock(self.mutex)
    self.stopping = true
    pthread_cond_signal(self.condition)
    pthread_mutex_unlock(self.mutex)
  }

  fileprivate func runLoop() {
    while true {
      pthread_mutex_lock(self.mutex)
      while self.jobs.isEmpty && !self.stopping {
        pthread_cond_wait(self.condition, self.mutex)
      }
      if self.jobs.isEmpty {
        // stopping and drained
        pthread_mutex_unlock(self.mutex)
        return
      }
      let job = self.jobs.removeFirst()
      pthread_mutex_unlock(self.mutex)
      job()
    }
  }
}

#if canImport(Darwin)
private func workerThreadMain(_ context: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
  let worker = Unmanaged<WorkerThread>.fromOpaque(context).takeRetainedValue()
  worker.runLoop()
  return nil
}
#else
private func workerThreadMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  guard let context else {
    preconditionFailure("worker thread started without its context")
  }
  let worker = Unmanaged<WorkerThread>.fromOpaque(context).takeRetainedValue()
  worker.runLoop()
  return nil
}
#endif

public import NIOCore

/// Runs Swift tasks on a NIO event loop thread.
///
/// Handler tasks prefer the executor of the event loop that owns their connection, so reading
/// a request, running the handler and writing the response happen on one thread without hops.
/// A handler that awaits something else moves as usual and comes back here when it resumes.
public final class EventLoopTaskExecutor: TaskExecutor {
  /// The loop the jobs run on.
  public let eventLoop: any EventLoop

  public init(eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    self.eventLoop.execute {
      job.runSynchronously(on: self.asUnownedTaskExecutor())
    }
  }
}

internal import NIOCore

/// Timers and hand-offs for an ``EventLoopUnaryHandler`` that must wait or leave its loop, so
/// that the handler's code needs no event-loop types of its own.
extension EventLoopUnaryCall {
  /// Runs `body` on the call's loop after `delay`, unless cancelled first. Event loop only.
  public func schedule(after delay: Duration, _ body: @escaping () -> Void) -> EventLoopTimer {
    EventLoopTimer(scheduled: self.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay), body))
  }
}

/// A pending ``EventLoopUnaryCall/schedule(after:_:)``.
public struct EventLoopTimer {
  let scheduled: Scheduled<Void>

  /// Stops the timer if it has not fired.
  public func cancel() {
    self.scheduled.cancel()
  }
}

/// A value that lives on a call's event loop, carried through code that runs elsewhere (a task)
/// and handed back on that loop. Sendable because the value is only ever touched there.
public struct EventLoopBound<Value>: @unchecked Sendable {
  private let value: Value
  private let eventLoop: any EventLoop

  /// Binds `value` to the loop of `call`. Event loop only.
  public init(_ value: Value, loopOf call: EventLoopUnaryCall) {
    call.eventLoop.preconditionInEventLoop()
    self.value = value
    self.eventLoop = call.eventLoop
  }

  /// Runs `body` with the value on its loop; callable from any thread.
  public func execute(_ body: @escaping @Sendable (Value) -> Void) {
    let bound = self
    self.eventLoop.execute { body(bound.value) }
  }
}

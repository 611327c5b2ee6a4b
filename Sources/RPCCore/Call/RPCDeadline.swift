/// The deadline of the RPC the current task is serving, if it has one.
///
/// The server binds it around every handler whose caller sent `grpc-timeout`; ``RPCClient``
/// reads it so that a call made while serving another one never outlives the caller's
/// deadline: its timeout becomes the smaller of its own and the time remaining.
public enum RPCDeadline {
  @TaskLocal public static var current: ContinuousClock.Instant?

  /// The timeout a new call should send: `timeout` capped by the time left until
  /// ``current``. Throws `DEADLINE_EXCEEDED` when that time has already run out.
  public static func effectiveTimeout(_ timeout: Duration?) throws -> Duration? {
    try self.effectiveTimeout(timeout, deadline: self.current)
  }

  /// ``effectiveTimeout(_:)`` for a deadline held elsewhere than in ``current``: a call served
  /// on an event loop, without a task to bind it to.
  public static func effectiveTimeout(
    _ timeout: Duration?, deadline: ContinuousClock.Instant?
  ) throws(RPCError) -> Duration? {
    guard let deadline else { return timeout }
    let remaining = deadline - ContinuousClock.now
    guard remaining > .zero else {
      throw RPCError(code: .deadlineExceeded, message: "The caller's deadline has passed.")
    }
    guard let timeout else { return remaining }
    return min(timeout, remaining)
  }
}

internal import RPCCore

/// Back-pressure for one stream's outbound messages: writers wait while more than
/// ``highWatermark`` bytes are queued and resume once the queue drains below ``lowWatermark``.
struct StreamWriteGate {
  static let highWatermark = 1 << 20
  static let lowWatermark = 256 << 10

  private var waiters: [CheckedContinuation<Void, any Error>] = []

  /// Whether a writer that just queued bytes, leaving `pendingBytes`, must wait.
  static func mustWait(pendingBytes: Int) -> Bool { pendingBytes > self.highWatermark }

  /// Resumes `continuation` now if the queue is short enough, or when it drains.
  mutating func wait(pendingBytes: Int, continuation: CheckedContinuation<Void, any Error>) {
    if pendingBytes <= Self.lowWatermark {
      continuation.resume()
    } else {
      self.waiters.append(continuation)
    }
  }

  /// Called after bytes left the queue.
  mutating func drained(pendingBytes: Int) {
    guard pendingBytes < Self.lowWatermark, !self.waiters.isEmpty else { return }
    let waiters = self.waiters
    self.waiters = []
    for waiter in waiters { waiter.resume() }
  }

  /// Fails every waiting writer (the stream ended). The error is only made when a writer
  /// waits (usually none does; boxing it would cost an allocation per stream).
  mutating func fail(_ error: @autoclosure () -> any Error) {
    guard !self.waiters.isEmpty else { return }
    let error = error()
    let waiters = self.waiters
    self.waiters = []
    for waiter in waiters { waiter.resume(throwing: error) }
  }
}

import Synchronization

/// Bounds retries to a share of the calls (plus a small floor), per second, so that retries
/// cannot multiply the load on a struggling backend.
public final class RetryBudget: Sendable {
  private let ratio: Double
  private let minimumPerSecond: Double
  private let state = Mutex(State())

  struct State {
    var windowStart = ContinuousClock.now
    var calls = 0
    var retries = 0
  }

  public init(ratio: Double, minimumPerSecond: Double) {
    self.ratio = ratio
    self.minimumPerSecond = minimumPerSecond
  }

  /// Counts one call (first attempt).
  public func recordCall() {
    self.state.withLock { state in
      self.roll(&state)
      state.calls += 1
    }
  }

  /// Takes one retry from the budget; `false` when it is spent for this second.
  public func tryRetry() -> Bool {
    self.state.withLock { state in
      self.roll(&state)
      let allowed = self.minimumPerSecond + self.ratio * Double(state.calls)
      guard Double(state.retries) + 1 <= allowed else { return false }
      state.retries += 1
      return true
    }
  }

  private func roll(_ state: inout State) {
    let now = ContinuousClock.now
    if now - state.windowStart >= .seconds(1) {
      state = State(windowStart: now)
    }
  }
}

import Synchronization

/// Token buckets by key (a tenant, a client address): `perSecond` tokens flow in up to
/// `burst`; a call takes one. Keys idle for a minute are forgotten, so the table stays small.
public final class RateLimiter: Sendable {
  public let perSecond: Double
  public let burst: Double
  private let state = Mutex(State())

  struct Bucket {
    var tokens: Double
    var updated: ContinuousClock.Instant
  }

  struct State {
    var buckets: [String: Bucket] = [:]
    var lastSweep: ContinuousClock.Instant?
    /// Sweeps done (for tests: each one walks every key).
    var sweeps = 0
  }

  /// Past this many keys the idle ones are swept, at most once a second (a sweep walks them
  /// all, under the lock every event loop shares); past `maximumKeys` even after a sweep, the
  /// table starts over (each new key starts with a full burst anyway).
  static let sweepAbove = 10_000
  static let maximumKeys = 100_000

  public init(perSecond: Double, burst: Double) {
    self.perSecond = perSecond
    self.burst = burst
  }

  var sweeps: Int { self.state.withLock { $0.sweeps } }

  /// Takes a token for `key`; otherwise returns how long until one is there.
  public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Duration? {
    self.state.withLock { state in
      if state.buckets.count > Self.sweepAbove, state.lastSweep.map({ now - $0 >= .seconds(1) }) ?? true {
        state.lastSweep = now
        state.sweeps += 1
        state.buckets = state.buckets.filter { now - $0.value.updated < .seconds(60) }
        if state.buckets.count > Self.maximumKeys { state.buckets = [:] }
      }
      var bucket = state.buckets[key] ?? Bucket(tokens: self.burst, updated: now)
      let elapsed = now - bucket.updated
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
      bucket.tokens = min(self.burst, bucket.tokens + seconds * self.perSecond)
      bucket.updated = now
      defer { state.buckets[key] = bucket }
      if bucket.tokens >= 1 {
        bucket.tokens -= 1
        return nil
      }
      let wait = (1 - bucket.tokens) / self.perSecond
      return .milliseconds(Int64(min((wait * 1000).rounded(.up), 3_600_000)))
    }
  }
}

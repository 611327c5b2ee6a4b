import Synchronization

/// Token buckets by key (a tenant, a client address): `perSecond` tokens flow in up to
/// `burst`; a call takes one. Keys idle for a minute are forgotten, so the table stays small.
public final class RateLimiter: Sendable {
  public let perSecond: Double
  public let burst: Double
  private let buckets = Mutex<[String: Bucket]>([:])

  struct Bucket {
    var tokens: Double
    var updated: ContinuousClock.Instant
  }

  public init(perSecond: Double, burst: Double) {
    self.perSecond = perSecond
    self.burst = burst
  }

  /// Takes a token for `key`; otherwise returns how long until one is there.
  public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Duration? {
    self.buckets.withLock { buckets in
      if buckets.count > 10_000 {
        buckets = buckets.filter { now - $0.value.updated < .seconds(60) }
      }
      var bucket = buckets[key] ?? Bucket(tokens: self.burst, updated: now)
      let elapsed = now - bucket.updated
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
      bucket.tokens = min(self.burst, bucket.tokens + seconds * self.perSecond)
      bucket.updated = now
      defer { buckets[key] = bucket }
      if bucket.tokens >= 1 {
        bucket.tokens -= 1
        return nil
      }
      let wait = (1 - bucket.tokens) / self.perSecond
      return .milliseconds(Int64(min((wait * 1000).rounded(.up), 3_600_000)))
    }
  }
}

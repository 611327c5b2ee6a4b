import Testing

@testable import ServiceKit

/// The API-key exchange cache: how long an exchanged access token keeps being served (and so
/// how long a revoked key keeps working through the gateway and the catalog).
@Suite("API key exchange cache")
struct ExchangeCacheTests {
  let now: Int64 = 1_700_000_000_000

  @Test func aTokenIsServedForAtMostAMinuteWhateverItsLifetime() {
    let cache = ExchangeCache()
    // A 15-minute access token, as identity issues them.
    cache.store("t1", for: "key", expiresAtMilliseconds: self.now + 15 * 60_000, nowMilliseconds: self.now)
    #expect(cache.token(for: "key", nowMilliseconds: self.now) == "t1")
    #expect(cache.token(for: "key", nowMilliseconds: self.now + 59_000) == "t1")
    #expect(cache.token(for: "key", nowMilliseconds: self.now + ExchangeCache.maximumAgeMilliseconds) == nil)
    #expect(cache.token(for: "key", nowMilliseconds: self.now + 61_000) == nil)
    #expect(cache.token(for: "other", nowMilliseconds: self.now) == nil)
  }

  @Test func aTokenIsDroppedAMinuteBeforeItExpires() {
    let cache = ExchangeCache()
    // Expiring in 90 s: served for 30 s only.
    cache.store("t2", for: "key", expiresAtMilliseconds: self.now + 90_000, nowMilliseconds: self.now)
    #expect(cache.token(for: "key", nowMilliseconds: self.now + 29_000) == "t2")
    #expect(cache.token(for: "key", nowMilliseconds: self.now + 30_000) == nil)
    // Expiring within the minute: not served at all.
    cache.store("t3", for: "short", expiresAtMilliseconds: self.now + 30_000, nowMilliseconds: self.now)
    #expect(cache.token(for: "short", nowMilliseconds: self.now) == nil)
  }
}

// token-bench: how many access tokens per second one core verifies (EdDSA signature, JSON
// claims, expiry), without and with the verified-token cache every service uses, and how many
// argon2id password hashes per second (what dominates Login). Part of scripts/bench-identity.sh.
import Auth

#if canImport(Glibc)
import Glibc
#endif

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
  let start = ContinuousClock.now
  try await body()
  let elapsed = ContinuousClock.now - start
  return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

let key = Ed25519SigningKey()
let keys = StaticVerificationKeys(["k1": key.publicKey])
let now = UnixTime.seconds()
let tokens = (0..<1000).map { index in
  AccessToken.sign(
    AccessTokenClaims(
      issuer: "identity", subject: "user-\(index)", tenantID: "tenant", role: .editor, issuedAt: now,
      expiresAt: now + 900, tokenID: "j\(index)"),
    keyID: "k1", key: key)
}
let rounds = 20
let total = Double(rounds * tokens.count)

/// Runs every verification of one measurement inside one task off the main actor: top-level code
/// is main-actor code, and awaiting a nonisolated function from it would hop threads twice per
/// call, which is what such a loop would then measure.
@concurrent func verifyAll(_ tokens: [String], rounds: Int, with verifier: AccessTokenVerifier) async throws {
  for _ in 0..<rounds { for token in tokens { _ = try await verifier.verify(bearer: token) } }
}

let uncached = AccessTokenVerifier(keys: keys, issuer: "identity", cacheCapacity: 0)
let plain = try await seconds { try await verifyAll(tokens, rounds: rounds, with: uncached) }
// The cached run starts cold: the first round verifies each token once and fills the cache.
let cached = AccessTokenVerifier(keys: keys, issuer: "identity")
let warm = try await seconds { try await verifyAll(tokens, rounds: rounds, with: cached) }
// What a server does on its event loop for a token it has seen: a synchronous cache lookup on
// a slice of the header (no copy, no task).
let headers = tokens.map { "Bearer " + $0 }
var hits = 0
let lookups = await seconds {
  for _ in 0..<rounds {
    for header in headers where cached.cachedCaller(bearer: header.dropFirst(7)) != nil { hits += 1 }
  }
}
guard hits == rounds * tokens.count else { fatalError("a cached token was not found: \(hits) hits") }
let hashes = 10
let hashing = try await seconds {
  for index in 0..<hashes { _ = try PasswordHash.hash("correct horse battery staple \(index)") }
}
/// `value` with `digits` fraction digits.
func fixed(_ value: Double, _ digits: Int) -> String {
  let scale = (0..<digits).reduce(1.0) { result, _ in result * 10 }
  let scaled = Int((value * scale).rounded())
  let whole = scaled / Int(scale)
  let fraction = String(scaled % Int(scale))
  return digits == 0 ? "\(whole)" : "\(whole)." + String(repeating: "0", count: digits - fraction.count) + fraction
}

print("token verifications/s (Ed25519 + claims, one core): \(Int(total / plain)) (\(fixed(plain / total * 1e6, 1)) µs each)")
print("token verifications/s with the verified-token cache (\(rounds) rounds, the first one cold): \(Int(total / warm)) (\(fixed(warm / total * 1e6, 2)) µs each)")
print("cached token lookups/s (cachedCaller on a header slice, as the servers' event loops do): \(Int(total / lookups)) (\(fixed(lookups / total * 1e6, 3)) µs each)")
print("argon2id hashes/s (libsodium interactive: 2 passes, 64 MiB): \(fixed(Double(hashes) / hashing, 1)) (\(Int(hashing / Double(hashes) * 1000)) ms each)")

import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import Logging
import Postgres

/// The Ed25519 keys that sign access tokens, kept in `identity.signing_keys` so that every
/// replica signs with the same key and publishes the same set.
///
/// Rotation never needs a restart: ``rotate()`` adds a key that becomes active after
/// `publicationLead` (so verifiers that cache the published set see it before any token names
/// it); the key it replaces stays published until every token it signed has expired.
actor SigningKeyRing {
  struct StoredKey: Sendable {
    var keyID: String
    var key: Ed25519SigningKey
    var activeFrom: Date
    var publishedUntil: Date?
  }

  private let pool: PostgresPool
  private let logger: Logger
  /// Seals seeds before they are stored (`nil`: stored as they are).
  private let seedBox: SecretBox?
  let accessTokenLifetime: Duration
  let publicationLead: Duration
  private var keys: [StoredKey] = []
  private var loadedAt: ContinuousClock.Instant?

  init(pool: PostgresPool, accessTokenLifetime: Duration, publicationLead: Duration, seedBox: SecretBox?, logger: Logger) {
    self.pool = pool
    self.seedBox = seedBox
    self.accessTokenLifetime = accessTokenLifetime
    self.publicationLead = publicationLead
    self.logger = logger
  }

  /// Creates the first key when there is none that can sign now.
  func ensureSigningKey() async throws {
    try await self.reload()
    if self.signingKey(at: Date()) == nil {
      _ = try await self.insertKey(activeFrom: Date())
      try await self.reload()
    }
  }

  /// The key that signs tokens now.
  func current() async throws -> StoredKey {
    try await self.reloadIfStale()
    if let key = self.signingKey(at: Date()) { return key }
    try await self.ensureSigningKey()
    guard let key = self.signingKey(at: Date()) else {
      throw StoreFailure("No signing key is active.")
    }
    return key
  }

  /// Keys that verify tokens now or soon: every key not past its publication end.
  func published() async throws -> [StoredKey] {
    try await self.reloadIfStale()
    let now = Date()
    return self.keys.filter { $0.publishedUntil.map { $0 > now } ?? true }
  }

  /// Publishes a new key, active after the publication lead; the keys before it stay published
  /// until the tokens they sign have expired.
  func rotate() async throws -> StoredKey {
    let activeFrom = Date().addingTimeInterval(self.publicationLead.seconds)
    let key = try await self.insertKey(activeFrom: activeFrom)
    let retireAt = activeFrom.addingTimeInterval(self.accessTokenLifetime.seconds + 60)
    try await self.pool.query(
      """
      UPDATE signing_keys SET published_until = \(retireAt)
      WHERE kid <> \(key.keyID) AND (published_until IS NULL OR published_until > \(retireAt))
      """)
    try await self.reload()
    self.logger.notice("signing key rotated", metadata: ["key.id": "\(key.keyID)", "key.active_from": "\(activeFrom)"])
    return key
  }

  /// Public keys by id, for verifying tokens in this process.
  func publicKeys() async throws -> [String: [UInt8]] {
    try await self.reload()
    var keys: [String: [UInt8]] = [:]
    for key in try await self.published() { keys[key.keyID] = key.key.publicKey }
    return keys
  }

  private func signingKey(at date: Date) -> StoredKey? {
    self.keys.filter { $0.activeFrom <= date && ($0.publishedUntil.map { $0 > date } ?? true) }
      .max { $0.activeFrom < $1.activeFrom }
  }

  private func insertKey(activeFrom: Date) async throws -> StoredKey {
    let key = Ed25519SigningKey()
    let keyID = "k" + Digest.hex(Array(Digest.sha256(key.publicKey).prefix(8)))
    try await self.pool.query(
      """
      INSERT INTO signing_keys (kid, seed, public_key, active_from) VALUES (\(keyID), \(self.storedSeed(key.seed)), \(key.publicKey), \(activeFrom))
      """)
    return StoredKey(keyID: keyID, key: key, activeFrom: activeFrom, publishedUntil: nil)
  }

  /// A seed as stored: 32 raw bytes, or `0x01` + sealed box when a seed key is configured.
  private func storedSeed(_ seed: [UInt8]) -> [UInt8] {
    guard let seedBox else { return seed }
    return [1] + seedBox.seal(seed)
  }

  private func seed(fromStored stored: [UInt8]) throws -> [UInt8] {
    if stored.count == 32 { return stored }
    guard stored.first == 1, let seedBox else {
      throw StoreFailure("A signing key is sealed but no IDENTITY_SEED_KEY is configured.")
    }
    guard let seed = seedBox.open(Array(stored.dropFirst())) else {
      throw StoreFailure("A signing key does not open with the configured IDENTITY_SEED_KEY.")
    }
    return seed
  }

  private func reloadIfStale() async throws {
    if let loadedAt, ContinuousClock.now - loadedAt < .seconds(15) { return }
    try await self.reload()
  }

  private func reload() async throws {
    let rows = try await self.pool.query(
      "SELECT kid, seed, active_from, published_until FROM signing_keys WHERE published_until IS NULL OR published_until > now()")
    self.keys = try rows.decode((String, [UInt8], Date, Date?).self).map { keyID, seed, activeFrom, publishedUntil in
      StoredKey(
        keyID: keyID, key: try Ed25519SigningKey(seed: try self.seed(fromStored: seed)), activeFrom: activeFrom,
        publishedUntil: publishedUntil)
    }
    self.loadedAt = .now
  }
}

struct StoreFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

extension Duration {
  var seconds: Double {
    Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
  }
}

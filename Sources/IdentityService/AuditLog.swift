import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ServiceKit
import Postgres
import IdentityV1Protos
import PostgresRPC

/// The tenant's hash-chained audit log.
///
/// Each change of the service appends one row in the same transaction as the change. A row's
/// hash is SHA-256 over the previous row's hash and the row's own fields (each length-prefixed),
/// and `audit_heads` keeps the newest sequence number and hash per tenant, so an edited row, a
/// deleted row and a deleted tail are all detected by ``verify(tenantID:on:)``.
enum AuditLog {
  struct Entry: Sendable {
    var actor: String
    var action: String
    var entity: String
    var entityID: String
    var before: String
    var after: String
  }

  static let genesis = [UInt8](repeating: 0, count: 32)

  /// The lock of a tenant's chain: key `audit:<TENANT>`. (Until the advisory locks shared one
  /// scheme it was `hashtextextended('<TENANT>', 7411)`; the lock is transaction-scoped, so
  /// the key can change without a migration.)
  static func chainLock(tenantID: UUID) -> AdvisoryLock { AdvisoryLock("audit", key: tenantID.uuidString) }

  /// Appends `entry` to `tenantID`'s chain on `connection`, which must be inside a transaction.
  static func append(_ entry: Entry, tenantID: UUID, on connection: PostgresConnection) async throws {
    // One writer per tenant chain at a time (the lock ends with the transaction).
    try await connection.lock(Self.chainLock(tenantID: tenantID))
    let head = try await connection.query("SELECT seq, hash FROM audit_heads WHERE tenant_id = \(tenantID)").first
      .map { try $0.decode((Int64, [UInt8]).self) }
    let (previousSequence, previousHash) = head ?? (0, Self.genesis)
    let sequence = previousSequence + 1
    let at = Self.nowMicroseconds()
    let payloadHash = Self.payloadHash(before: entry.before, after: entry.after)
    let hash = Self.hash(previous: previousHash, sequence: sequence, entry: entry, payloadHash: payloadHash, atMicroseconds: at)
    try await connection.query(
      """
      INSERT INTO audit_events (tenant_id, seq, actor, action, entity, entity_id, before_json, after_json, at_us, prev_hash,
                                hash, payload_hash)
      VALUES (\(tenantID), \(sequence), \(entry.actor), \(entry.action), \(entry.entity), \(entry.entityID),
              \(entry.before), \(entry.after), \(at), \(previousHash), \(hash), \(payloadHash))
      """)
    try await connection.query(
      """
      INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (\(tenantID), \(sequence), \(hash))
      ON CONFLICT (tenant_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash
      """)
  }

  /// A stored row as `ListAuditEvents` shows it.
  struct StoredEvent: Sendable, RowDecodable {
    var sequence: Int64
    var entry: Entry
    var atMicroseconds: Int64
    var hash: [UInt8]

    static let columns = "seq, actor, action, entity, entity_id, before_json, after_json, at_us, hash"

    init(row: PostgresRow) throws {
      let (sequence, actor, action, entity, entityID, before, after, at, hash) =
        try row.decode((Int64, String, String, String, String, String, String, Int64, [UInt8]).self)
      self.sequence = sequence
      self.entry = Entry(actor: actor, action: action, entity: entity, entityID: entityID, before: before, after: after)
      self.atMicroseconds = at
      self.hash = hash
    }

    var message: Identity_V1_AuditEvent {
      var event = Identity_V1_AuditEvent()
      event.sequence = self.sequence
      event.actor = self.entry.actor
      event.action = self.entry.action
      event.entity = self.entry.entity
      event.entityId = self.entry.entityID
      event.beforeJson = self.entry.before
      event.afterJson = self.entry.after
      event.atMs = self.atMicroseconds / 1000
      event.hash = Digest.hex(self.hash)
      return event
    }
  }

  /// Up to `limit` of the tenant's rows before sequence `before` (all when `nil`), about
  /// `entityID` when given, newest first.
  static func events(
    before: Int64?, entityID: String?, limit: Int64, tenantID: UUID, on connection: PostgresConnection
  ) async throws -> [StoredEvent] {
    try await connection.query(
      """
      SELECT \(columns: StoredEvent.self) FROM audit_events
      WHERE tenant_id = \(tenantID) AND (\(before)::int8 IS NULL OR seq < \(before)::int8)
        AND (\(entityID)::text IS NULL OR entity_id = \(entityID)::text)
      ORDER BY seq DESC LIMIT \(limit)
      """
    ).decode(StoredEvent.self)
  }

  struct Verification: Sendable, Hashable {
    var intact: Bool
    var checked: Int64
    var firstBrokenSequence: Int64
    var problem: String
  }

  /// Recomputes `tenantID`'s chain from the first row.
  static func verify(tenantID: UUID, on connection: PostgresConnection) async throws -> Verification {
    let rows = try await connection.query(
      """
      SELECT seq, actor, action, entity, entity_id, before_json, after_json, at_us, prev_hash, hash, payload_hash, redacted
      FROM audit_events WHERE tenant_id = \(tenantID) ORDER BY seq
      """)
    var previousHash = Self.genesis
    var expectedSequence: Int64 = 1
    var checked: Int64 = 0
    for row in rows {
      let (sequence, actor, action, entity, entityID, before, after, at, storedPrevious, storedHash, storedPayloadHash, redacted) =
        try row.decode((Int64, String, String, String, String, String, String, Int64, [UInt8], [UInt8], [UInt8]?, Bool).self)
      let entry = Entry(actor: actor, action: action, entity: entity, entityID: entityID, before: before, after: after)
      if sequence != expectedSequence {
        return Verification(intact: false, checked: checked, firstBrokenSequence: expectedSequence, problem: "sequence gap (row deleted)")
      }
      if storedPrevious != previousHash {
        return Verification(intact: false, checked: checked, firstBrokenSequence: sequence, problem: "broken link to the previous row")
      }
      let computed: [UInt8]
      if let storedPayloadHash {
        if !redacted && Self.payloadHash(before: entry.before, after: entry.after) != storedPayloadHash {
          return Verification(intact: false, checked: checked, firstBrokenSequence: sequence, problem: "hash mismatch (row edited)")
        }
        computed = Self.hash(
          previous: previousHash, sequence: sequence, entry: entry, payloadHash: storedPayloadHash, atMicroseconds: at)
      } else {
        computed = Self.hash(previous: previousHash, sequence: sequence, entry: entry, atMicroseconds: at)
      }
      if !constantTimeEquals(computed, storedHash) {
        return Verification(intact: false, checked: checked, firstBrokenSequence: sequence, problem: "hash mismatch (row edited)")
      }
      checked += 1
      previousHash = storedHash
      expectedSequence += 1
    }
    let head = try await connection.query("SELECT seq, hash FROM audit_heads WHERE tenant_id = \(tenantID)").first
      .map { try $0.decode((Int64, [UInt8]).self) }
    let (headSequence, headHash) = head ?? (0, Self.genesis)
    if headSequence != checked || headHash != previousHash {
      return Verification(
        intact: false, checked: checked, firstBrokenSequence: checked + 1,
        problem: "the newest rows are missing (chain tip is \(headSequence))")
    }
    return Verification(intact: true, checked: checked, firstBrokenSequence: 0, problem: "")
  }

  /// Digest of a row's before/after data; the chain covers this digest, so the data itself can
  /// be redacted later without breaking the chain.
  static func payloadHash(before: String, after: String) -> [UInt8] {
    Digest.sha256(Self.lengthPrefixed([before, after]))
  }

  /// The chain hash of rows written since migration 2: fields plus the payload digest.
  static func hash(previous: [UInt8], sequence: Int64, entry: Entry, payloadHash: [UInt8], atMicroseconds: Int64)
    -> [UInt8]
  {
    Digest.sha256(
      previous
        + Self.lengthPrefixed([
          "v2", String(sequence), entry.actor, entry.action, entry.entity, entry.entityID, Digest.hex(payloadHash),
          String(atMicroseconds),
        ]))
  }

  /// Replaces the before/after data of every row about `entityID` (written since migration 2)
  /// with a redaction marker; the chain stays verifiable through the stored payload digests.
  /// Returns how many rows were redacted.
  @discardableResult
  static func redact(entityID: String, tenantID: UUID, on connection: PostgresConnection) async throws -> Int {
    let rows = try await connection.query(
      """
      UPDATE audit_events SET before_json = '{"redacted":true}', after_json = '{"redacted":true}', redacted = true
      WHERE tenant_id = \(tenantID) AND entity_id = \(entityID) AND payload_hash IS NOT NULL AND NOT redacted
      """)
    return rows.affectedRows ?? 0
  }

  static func lengthPrefixed(_ fields: [String]) -> [UInt8] {
    var input: [UInt8] = []
    for field in fields {
      let bytes = Array(field.utf8)
      input += Array(String(bytes.count).utf8) + [UInt8(ascii: ":")] + bytes
    }
    return input
  }

  /// The chain hash of rows written before migration 2 (over the data itself).
  static func hash(previous: [UInt8], sequence: Int64, entry: Entry, atMicroseconds: Int64) -> [UInt8] {
    var input = previous
    for field in [
      String(sequence), entry.actor, entry.action, entry.entity, entry.entityID, entry.before, entry.after,
      String(atMicroseconds),
    ] {
      let bytes = Array(field.utf8)
      input += Array(String(bytes.count).utf8) + [UInt8(ascii: ":")] + bytes
    }
    return Digest.sha256(input)
  }

  static func nowMicroseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
  }
}

import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import IdentityV1Protos
import RPCCore
import ServiceKit

/// A row of `identity.api_keys` without its hash.
struct ApiKeyRecord: Sendable, Hashable, RowDecodable {
  var id: UUID
  var name: String
  var prefix: String
  var role: Role
  var createdBy: UUID
  var createdAt: Date
  var expiresAt: Date?
  var lastUsedAt: Date?
  var revokedAt: Date?

  static let columns = "id, name, prefix, role, created_by, created_at, expires_at, last_used_at, revoked_at"

  init(row: PostgresRow) throws {
    let role: String
    (
      self.id, self.name, self.prefix, role, self.createdBy, self.createdAt, self.expiresAt, self.lastUsedAt,
      self.revokedAt
    ) = try row.decode((UUID, String, String, String, UUID, Date, Date?, Date?, Date?).self)
    self.role = Role(rawValue: role) ?? .viewer
  }

  var message: Identity_V1_ApiKey {
    var key = Identity_V1_ApiKey()
    key.id = self.id.uuidString.lowercased()
    key.name = self.name
    key.prefix = self.prefix
    key.role = self.role.message
    key.createdBy = self.createdBy.uuidString.lowercased()
    key.createdAtMs = self.createdAt.unixMilliseconds
    key.expiresAtMs = self.expiresAt?.unixMilliseconds ?? 0
    key.lastUsedAtMs = self.lastUsedAt?.unixMilliseconds ?? 0
    key.revokedAtMs = self.revokedAt?.unixMilliseconds ?? 0
    return key
  }
}

/// The SQL of `api_keys`: keys are stored as SHA-256 of the secret, and every change is audited
/// in the same transaction.
struct ApiKeyStore: Sendable {
  let database: Database

  /// Stores a new key of `creator` (audited as `actor`); `ttlSeconds` `nil` never expires.
  func create(
    name: String, prefix: String, secret: String, role: Role, creator: UUID, ttlSeconds: Double?, actor: String,
    tenantID: UUID
  ) async throws(RPCError) -> ApiKeyRecord {
    let id = UUID()
    return try await self.database.write { connection in
      let key = try await connection.query(
        """
        INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, role, created_by, expires_at)
        VALUES (\(id), \(tenantID), \(name), \(prefix), \(Digest.sha256(secret)), \(role.rawValue), \(creator),
                now() + make_interval(secs => \(ttlSeconds)))
        RETURNING \(columns: ApiKeyRecord.self)
        """
      ).first(ApiKeyRecord.self)!
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "create", entity: "api_key", entityID: id.uuidString.lowercased(), before: "",
          after: JSONText.object([("name", .string(name)), ("prefix", .string(prefix)), ("role", .string(role.rawValue))])),
        tenantID: tenantID, on: connection)
      return key
    }
  }

  /// The tenant's keys, oldest first.
  func list(tenantID: UUID) async throws(RPCError) -> [ApiKeyRecord] {
    try await self.database.read { connection in
      try await connection.query(
        "SELECT \(columns: ApiKeyRecord.self) FROM api_keys WHERE tenant_id = \(tenantID) ORDER BY created_at, id"
      ).decode(ApiKeyRecord.self)
    }
  }

  /// Revokes a key (a second time keeps the first revocation time) and audits it; `nil` when
  /// the tenant has no such key.
  func revoke(_ id: UUID, actor: String, tenantID: UUID) async throws(RPCError) -> ApiKeyRecord? {
    try await self.database.write { connection in
      guard
        let key = try await connection.query(
          """
          UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = \(tenantID) AND id = \(id)
          RETURNING \(columns: ApiKeyRecord.self)
          """
        ).first(ApiKeyRecord.self)
      else { return nil }
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "revoke", entity: "api_key", entityID: id.uuidString.lowercased(), before: "",
          after: ""),
        tenantID: tenantID, on: connection)
      return key
    }
  }

  /// A usable key with this hash (not revoked, not expired, its creator active), marked as used
  /// now, in one statement; `nil` when there is none.
  func use(hash: [UInt8]) async throws(RPCError) -> (id: UUID, tenantID: UUID, role: Role, creatorRole: Role)? {
    try await self.database.read { connection in
      guard
        let row = try await connection.query(
          """
          UPDATE api_keys k SET last_used_at = now()
          FROM users u
          WHERE k.key_hash = \(hash) AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
            AND u.id = k.created_by AND u.active
          RETURNING k.id, k.tenant_id, k.role, u.role
          """
        ).first
      else { return nil }
      let (id, tenantID, role, creatorRole) = try row.decode((UUID, UUID, String, String).self)
      return (id, tenantID, Role(rawValue: role) ?? .viewer, Role(rawValue: creatorRole) ?? .viewer)
    }
  }

  /// Revokes every key `userID` created and audits each revocation (actor `actor`, the
  /// `reason` in the row's after JSON), on `connection` inside the transaction that deactivates
  /// or anonymises the user.
  static func revokeKeys(createdBy userID: UUID, actor: String, reason: String, on connection: PostgresConnection)
    async throws
  {
    let revoked = try await connection.query(
      "UPDATE api_keys SET revoked_at = now() WHERE created_by = \(userID) AND revoked_at IS NULL RETURNING id, tenant_id"
    ).decode((UUID, UUID).self)
    for (id, tenantID) in revoked {
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "revoke", entity: "api_key", entityID: id.uuidString.lowercased(), before: "",
          after: JSONText.object([("reason", .string(reason))])),
        tenantID: tenantID, on: connection)
    }
  }
}

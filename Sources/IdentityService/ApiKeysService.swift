import Auth
import Foundation
import Postgres
public import IdentityV1Protos
public import RPCCore
import ServiceKit

/// `identity.v1.ApiKeys`: keys for service accounts and scripts, bound to a tenant and a role.
///
/// A key is `gsk_` + 8 hex characters (its visible prefix) + `_` + 32 random bytes
/// (base64url): recognisable when leaked, stored only as SHA-256.
public struct ApiKeysService: Identity_V1_ApiKeys.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  static let columns = "id, name, prefix, role, created_by, created_at, expires_at, last_used_at, revoked_at"

  public func createApiKey(request: Identity_V1_CreateApiKeyRequest, context: ServerContext) async throws
    -> Identity_V1_CreateApiKeyResponse
  {
    let caller = try context.requireCaller()
    // A key acts on behalf of the user who created it (its creator must stay active, and caps
    // its role), so only a user creates keys: a key made by a key would have no user behind it.
    guard caller.kind != .apiKey else {
      throw RPCError(code: .permissionDenied, message: "API keys are created by users, not by other API keys.")
    }
    let tenantID = try caller.tenantUUID
    let name = try requiredText(request.name, "name", maxCharacters: 200)
    guard let role = Role(message: request.role) else {
      throw RPCError(code: .invalidArgument, message: "role must be ROLE_VIEWER, ROLE_EDITOR or ROLE_ADMIN.")
    }
    guard role <= caller.role else { throw RPCError(code: .permissionDenied, message: "A key cannot have a higher role than its creator.") }
    guard (0...3650).contains(request.ttlDays) else { throw RPCError(code: .invalidArgument, message: "ttl_days must be in 0...3650.") }
    let creator = try parseID(caller.subject, what: "the caller's id")
    let prefix = "gsk_" + Digest.hex(SecureRandom.bytes(4))
    let secret = prefix + "_" + SecureRandom.token(byteCount: 32)
    let id = UUID()
    let ttl: Double? = request.ttlDays == 0 ? nil : Double(request.ttlDays) * 86400
    let row = try await self.context.database.transaction(on: self.context.pool) { connection in
      let row = try await connection.query(
        """
        INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, role, created_by, expires_at)
        VALUES (\(id), \(tenantID), \(name), \(prefix), \(Digest.sha256(secret)), \(role.rawValue), \(creator),
                now() + make_interval(secs => \(ttl)))
        RETURNING \(unescaped: Self.columns)
        """
      ).first!
      try await AuditLog.append(
        AuditLog.Entry(
          actor: caller.subject, action: "create", entity: "api_key", entityID: id.uuidString.lowercased(), before: "",
          after: JSONText.object([("name", .string(name)), ("prefix", .string(prefix)), ("role", .string(role.rawValue))])),
        tenantID: tenantID, on: connection)
      return row
    }
    var response = Identity_V1_CreateApiKeyResponse()
    response.key = try Self.message(row)
    response.secret = secret
    return response
  }

  public func listApiKeys(request: Identity_V1_ListApiKeysRequest, context: ServerContext) async throws
    -> Identity_V1_ListApiKeysResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        "SELECT \(unescaped: Self.columns) FROM api_keys WHERE tenant_id = \(tenantID) ORDER BY created_at, id")
    }
    var response = Identity_V1_ListApiKeysResponse()
    response.keys = try rows.map(Self.message)
    return response
  }

  public func revokeApiKey(request: Identity_V1_RevokeApiKeyRequest, context: ServerContext) async throws
    -> Identity_V1_ApiKey
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let id = try parseID(request.id, what: "id")
    let row = try await self.context.database.transaction(on: self.context.pool) { connection in
      guard
        let row = try await connection.query(
          """
          UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = \(tenantID) AND id = \(id)
          RETURNING \(unescaped: Self.columns)
          """
        ).first
      else { throw RPCError(code: .notFound, message: "No API key \(id.uuidString.lowercased()) in this tenant.") }
      try await AuditLog.append(
        AuditLog.Entry(
          actor: caller.subject, action: "revoke", entity: "api_key", entityID: id.uuidString.lowercased(), before: "",
          after: ""),
        tenantID: tenantID, on: connection)
      return row
    }
    return try Self.message(row)
  }

  public func exchangeApiKey(request: Identity_V1_ExchangeApiKeyRequest, context _: ServerContext) async throws
    -> Identity_V1_ExchangeApiKeyResponse
  {
    let caller = try await ApiKeyVerifier(context: self.context).verify(bearer: request.apiKey)
    let access = try await self.context.issueAccessToken(
      subject: caller.subject, tenantID: caller.tenantID, role: caller.role, kind: .apiKey)
    var response = Identity_V1_ExchangeApiKeyResponse()
    response.accessToken = access.token
    response.accessTokenExpiresAtMs = access.expiresAtMilliseconds
    return response
  }

  /// Revokes every key `userID` created and audits each revocation (actor `actor`, the
  /// `reason` in the row's after JSON), on `connection` inside the transaction that deactivates
  /// or anonymises the user.
  static func revokeKeys(createdBy userID: UUID, actor: String, reason: String, on connection: PostgresConnection)
    async throws
  {
    let revoked = try await connection.query(
      "UPDATE api_keys SET revoked_at = now() WHERE created_by = \(userID) AND revoked_at IS NULL RETURNING id, tenant_id")
    for row in revoked {
      let (id, tenantID) = (try row.decode(column: 0, as: UUID.self), try row.decode(column: 1, as: UUID.self))
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "revoke", entity: "api_key", entityID: id.uuidString.lowercased(), before: "",
          after: JSONText.object([("reason", .string(reason))])),
        tenantID: tenantID, on: connection)
    }
  }

  static func message(_ row: PostgresRow) throws -> Identity_V1_ApiKey {
    var key = Identity_V1_ApiKey()
    key.id = try row.decode(column: 0, as: UUID.self).uuidString.lowercased()
    key.name = try row.decode(column: 1, as: String.self)
    key.prefix = try row.decode(column: 2, as: String.self)
    key.role = (Role(rawValue: try row.decode(column: 3, as: String.self)) ?? .viewer).message
    key.createdBy = try row.decode(column: 4, as: UUID.self).uuidString.lowercased()
    key.createdAtMs = try row.decode(column: 5, as: Date.self).unixMilliseconds
    key.expiresAtMs = try row.decode(column: 6, as: Date?.self)?.unixMilliseconds ?? 0
    key.lastUsedAtMs = try row.decode(column: 7, as: Date?.self)?.unixMilliseconds ?? 0
    key.revokedAtMs = try row.decode(column: 8, as: Date?.self)?.unixMilliseconds ?? 0
    return key
  }
}

/// Checks an API key against the stored hashes; records when it was last used.
///
/// A key acts on its creator's behalf: it is refused unless its creator is still active
/// (deactivated and anonymised users are not), and it acts with the lower of its own role and
/// its creator's current role, so a demoted creator's keys are demoted with them.
struct ApiKeyVerifier: BearerCredentialVerifier {
  let context: IdentityContext

  static func looksLikeKey(_ bearer: String) -> Bool { bearer.hasPrefix("gsk_") }

  func verify(bearer: String) async throws(RPCError) -> Caller {
    guard Self.looksLikeKey(bearer), bearer.utf8.count < 200 else {
      throw RPCError(code: .unauthenticated, message: "The API key is not valid.")
    }
    let hash = Digest.sha256(bearer)
    let row = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        UPDATE api_keys k SET last_used_at = now()
        FROM users u
        WHERE k.key_hash = \(hash) AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
          AND u.id = k.created_by AND u.active
        RETURNING k.id, k.tenant_id, k.role, u.role
        """
      ).first
    }
    guard let row else {
      throw RPCError(
        code: .unauthenticated, message: "The API key is not valid, revoked or expired, or its creator is no longer active.")
    }
    do {
      let keyRole = Role(rawValue: try row.decode(column: 2, as: String.self)) ?? .viewer
      let creatorRole = Role(rawValue: try row.decode(column: 3, as: String.self)) ?? .viewer
      return Caller(
        tenantID: try row.decode(column: 1, as: UUID.self).uuidString.lowercased(),
        subject: try row.decode(column: 0, as: UUID.self).uuidString.lowercased(),
        role: min(keyRole, creatorRole), kind: .apiKey)
    } catch {
      throw self.context.database.rpcError(for: error)
    }
  }
}

/// Identity's own credential check: API keys against the database, everything else as an
/// access token.
struct IdentityCredentialVerifier: BearerCredentialVerifier {
  let tokens: AccessTokenVerifier
  let apiKeys: ApiKeyVerifier

  func verify(bearer: String) async throws(RPCError) -> Caller {
    if ApiKeyVerifier.looksLikeKey(bearer) { return try await self.apiKeys.verify(bearer: bearer) }
    return try await self.tokens.verify(bearer: bearer)
  }
}

import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import RPCCore

/// How presenting a refresh token ended (``SessionStore/rotate(presented:next:grace:lifetime:)``).
enum RefreshOutcome: Sendable {
  /// Rotated: the presented token is spent, `next` is stored for the same login.
  case issued(UserRecord)
  /// No stored token has this hash.
  case unknown
  case revoked
  case expired
  /// Spent before, outside the retry grace: treated as stolen, so every token of the login
  /// was revoked.
  case reused
  /// The token's user was deleted.
  case userGone
  case userDeactivated
}

/// The SQL of logins and `refresh_tokens` (sessions). Tokens are stored as SHA-256; the tokens
/// of one login share a family.
struct SessionStore: Sendable {
  let database: Database

  /// The user with this email in the tenant, with their password hash; `nil` when there is none.
  func userForLogin(tenantID: UUID, email: String) async throws(RPCError) -> (user: UserRecord, passwordHash: String)? {
    try await self.database.read { connection in
      guard
        let row = try await connection.query(
          """
          SELECT \(columns: UserRecord.self), password_hash FROM users
          WHERE tenant_id = \(tenantID) AND lower(email) = \(email)
          """
        ).first
      else { return nil }
      return (try UserRecord(row: row), try row.decode(column: UserRecord.columnCount, as: String.self))
    }
  }

  /// Records a login of `user`: login and access times, the new password hash when the stored
  /// one is rehashed, a refresh token of a new family, and the audit row.
  func startSession(
    for user: UserRecord, rehashedPassword: String?, refreshTokenHash: [UInt8], lifetimeSeconds: Double
  ) async throws(RPCError) {
    try await self.database.write { connection in
      try await connection.query(
        """
        UPDATE users SET last_login_at = now(), last_access_at = now(),
          password_hash = coalesce(\(rehashedPassword), password_hash)
        WHERE id = \(user.id)
        """)
      try await connection.query(
        """
        INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, user_id, expires_at)
        VALUES (\(refreshTokenHash), \(UUID()), \(user.tenantID), \(user.id), now() + make_interval(secs => \(lifetimeSeconds)))
        """)
      try await AuditLog.append(
        AuditLog.Entry(
          actor: user.id.uuidString.lowercased(), action: "login", entity: "session",
          entityID: user.id.uuidString.lowercased(), before: "", after: ""),
        tenantID: user.tenantID, on: connection)
    }
  }

  /// Spends the refresh token with hash `presented` and stores `next` in its family. A token
  /// spent again within `graceSeconds` is a client retry and rotates again; later it revokes
  /// the whole family (audited).
  func rotate(
    presented: [UInt8], next: [UInt8], graceSeconds: Double, lifetimeSeconds: Double
  ) async throws(RPCError) -> RefreshOutcome {
    try await self.database.write { connection in
      guard
        let token = try await connection.query(
          """
          SELECT family_id, user_id, tenant_id, expires_at < now(), revoked_at IS NOT NULL,
                 rotated_at IS NOT NULL, rotated_at > now() - make_interval(secs => \(graceSeconds))
          FROM refresh_tokens WHERE token_hash = \(presented) FOR UPDATE
          """
        ).first
      else { return .unknown }
      let (family, userID, tenantID, expired, revoked, rotated, withinGrace) =
        try token.decode((UUID, UUID, UUID, Bool, Bool, Bool, Bool?).self)
      if revoked { return .revoked }
      if expired { return .expired }
      if rotated, !(withinGrace ?? false) {
        try await connection.query(
          "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = \(family) AND revoked_at IS NULL")
        try await AuditLog.append(
          AuditLog.Entry(
            actor: userID.uuidString.lowercased(), action: "refresh_reuse_revoked", entity: "session",
            entityID: family.uuidString.lowercased(), before: "", after: ""),
          tenantID: tenantID, on: connection)
        return .reused
      }
      guard
        let user = try await connection.query(
          "SELECT \(columns: UserRecord.self) FROM users WHERE id = \(userID) AND tenant_id = \(tenantID)"
        ).first(UserRecord.self)
      else { return .userGone }
      guard user.active else { return .userDeactivated }
      try await connection.query(
        "UPDATE refresh_tokens SET rotated_at = coalesce(rotated_at, now()) WHERE token_hash = \(presented)")
      try await connection.query(
        """
        INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, user_id, expires_at)
        VALUES (\(next), \(family), \(tenantID), \(userID), now() + make_interval(secs => \(lifetimeSeconds)))
        """)
      try await connection.query("UPDATE users SET last_access_at = now() WHERE id = \(userID)")
      return .issued(user)
    }
  }

  /// Revokes the login (token family) of the refresh token with hash `presented`, which must
  /// belong to `userID`; audited when something was revoked. `false` when the user has no such
  /// token.
  func endSession(presented: [UInt8], userID: UUID, actor: String, tenantID: UUID) async throws(RPCError) -> Bool {
    try await self.database.write { connection in
      let owned = try await connection.query(
        "SELECT 1 FROM refresh_tokens WHERE token_hash = \(presented) AND user_id = \(userID) AND tenant_id = \(tenantID)")
      guard !owned.isEmpty else { return false }
      let revoked = try await connection.query(
        """
        UPDATE refresh_tokens SET revoked_at = now()
        WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = \(presented)
                           AND user_id = \(userID) AND tenant_id = \(tenantID))
          AND revoked_at IS NULL
        """)
      if (revoked.affectedRows ?? 0) > 0 {
        try await AuditLog.append(
          AuditLog.Entry(actor: actor, action: "logout", entity: "session", entityID: actor, before: "", after: ""),
          tenantID: tenantID, on: connection)
      }
      return true
    }
  }
}

import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import Postgres
import PostgresRPC
import RPCCore

/// The SQL of `users`: reads, and every write, each in one transaction with its audit row.
struct UserStore: Sendable {
  let database: Database

  struct NewUser: Sendable {
    var tenantID: UUID
    var email: String
    var phone: String?
    var username: String
    var fullName: String
    var role: Role
    var platformOperator = false
    var receiveEmail: Bool
    var passwordHash: String
  }

  func create(_ new: NewUser, actor: String) async throws(RPCError) -> UserRecord {
    try await self.database.write { connection in
      try await Self.insert(new, actor: actor, on: connection)
    }
  }

  /// Inserts `new` and its audit row on `connection` (inside a transaction).
  static func insert(_ new: NewUser, actor: String, on connection: PostgresConnection) async throws -> UserRecord {
    let id = UUID()
    let row = try await connection.query(
      """
      INSERT INTO users (id, tenant_id, email, phone, username, full_name, role, platform_operator, receive_email, password_hash)
      VALUES (\(id), \(new.tenantID), \(new.email), \(new.phone), \(new.username), \(new.fullName), \(new.role.rawValue),
              \(new.platformOperator), \(new.receiveEmail), \(new.passwordHash))
      RETURNING \(columns: UserRecord.self)
      """
    ).first!
    let user = try UserRecord(row: row)
    try await AuditLog.append(
      AuditLog.Entry(
        actor: actor, action: "create", entity: "user", entityID: id.uuidString.lowercased(), before: "",
        after: user.auditJSON),
      tenantID: new.tenantID, on: connection)
    return user
  }

  /// The user `id` of the tenant, `nil` when there is none.
  func user(id: UUID, tenantID: UUID) async throws(RPCError) -> UserRecord? {
    try await self.database.read { connection in
      try await connection.query(
        "SELECT \(columns: UserRecord.self) FROM users WHERE tenant_id = \(tenantID) AND id = \(id)"
      ).first(UserRecord.self)
    }
  }

  /// A page of the tenant's users in (created_at, id) order after `cursor`, and the cursor of
  /// the next page when there is one. `emailPattern` is a `LIKE` pattern, already escaped.
  func list(
    after cursor: PageCursor?, role: String?, activeOnly: Bool, emailPattern: String?, limit: Int64, tenantID: UUID
  ) async throws(RPCError) -> (users: [UserRecord], next: PageCursor?) {
    try await self.database.read { connection in
      let rows = try await connection.query(
        """
        SELECT \(columns: UserRecord.self), (extract(epoch FROM created_at) * 1000000)::int8 FROM users
        WHERE tenant_id = \(tenantID)
          AND (\(cursor?.createdAtMicroseconds)::int8 IS NULL
               OR ((extract(epoch FROM created_at) * 1000000)::int8, id) > (\(cursor?.createdAtMicroseconds)::int8, \(cursor?.id)::uuid))
          AND (\(role)::text IS NULL OR role = \(role)::text)
          AND (NOT \(activeOnly) OR active)
          AND (\(emailPattern)::text IS NULL OR lower(email) LIKE \(emailPattern)::text ESCAPE '\\')
        ORDER BY created_at, id
        LIMIT \(limit + 1)
        """)
      let page = rows.prefix(Int(limit))
      let users = try page.map(UserRecord.init(row:))
      guard rows.count > Int(limit), let last = page.last, let lastUser = users.last else { return (users, nil) }
      let next = PageCursor(
        createdAtMicroseconds: try last.decode(column: UserRecord.columnCount, as: Int64.self), id: lastUser.id)
      return (users, next)
    }
  }

  /// How many of the tenant's users there are by role and active flag.
  func counts(tenantID: UUID) async throws(RPCError) -> [(role: String, active: Bool, count: Int64)] {
    try await self.database.read { connection in
      try await connection.query(
        "SELECT role, active, count(*)::int8 FROM users WHERE tenant_id = \(tenantID) GROUP BY role, active"
      ).decode((String, Bool, Int64).self).map { (role: $0.0, active: $0.1, count: $0.2) }
    }
  }

  /// The user's password hash and email, `nil` when there is no such user.
  func passwordHashAndEmail(id: UUID, tenantID: UUID) async throws(RPCError) -> (hash: String, email: String)? {
    try await self.database.read { connection in
      try await connection.query(
        "SELECT password_hash, email FROM users WHERE tenant_id = \(tenantID) AND id = \(id)"
      ).first.map { try $0.decode((String, String).self) }
    }
  }

  /// Loads the user (locked), applies `change`, stores it and audits before/after.
  ///
  /// Only a platform operator (`actorIsPlatformOperator`) may change the platform operator's
  /// role or active flag: a tenant admin demoting or deactivating them is `PERMISSION_DENIED`.
  func update(
    id: UUID, tenantID: UUID, actor: String, actorIsPlatformOperator: Bool, action: String = "update",
    _ change: @Sendable (inout UserRecord) -> Void
  ) async throws(RPCError) -> UserRecord {
    try await self.database.write { connection in
      guard
        let row = try await connection.query(
          "SELECT \(columns: UserRecord.self) FROM users WHERE tenant_id = \(tenantID) AND id = \(id) FOR UPDATE"
        ).first
      else { throw RPCError(code: .notFound, message: "No user \(id.uuidString.lowercased()) in this tenant.") }
      let before = try UserRecord(row: row)
      var after = before
      change(&after)
      if after == before { return before }
      if before.platformOperator, !actorIsPlatformOperator, after.role != before.role || after.active != before.active {
        throw RPCError(
          code: .permissionDenied,
          message: "Only a platform operator may change the platform operator's role or deactivate them.")
      }
      let updated = try await connection.query(
        """
        UPDATE users SET email = \(after.email), phone = \(after.phone), username = \(after.username),
          full_name = \(after.fullName), role = \(after.role.rawValue), active = \(after.active),
          verified = \(after.verified), receive_email = \(after.receiveEmail), updated_at = now()
        WHERE tenant_id = \(tenantID) AND id = \(id)
        RETURNING \(columns: UserRecord.self)
        """
      ).first!
      let stored = try UserRecord(row: updated)
      if before.active && !stored.active {
        // Deactivation ends the user's sessions and revokes the API keys they created.
        try await connection.query(
          "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(id) AND revoked_at IS NULL")
        try await ApiKeyStore.revokeKeys(createdBy: id, actor: actor, reason: "creator deactivated", on: connection)
      }
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: action, entity: "user", entityID: id.uuidString.lowercased(),
          before: before.auditJSON, after: stored.auditJSON),
        tenantID: tenantID, on: connection)
      return stored
    }
  }

  /// Replaces the user's password hash and ends their sessions. Only a platform operator
  /// (`actorIsPlatformOperator`) may change the platform operator's password: checked on the
  /// locked row, in the same transaction as the change.
  func setPassword(
    id: UUID, tenantID: UUID, hash: String, actor: String, actorIsPlatformOperator: Bool
  ) async throws(RPCError) {
    try await self.database.write { connection in
      try await Self.lockRefusingOperator(
        id: id, tenantID: tenantID, unless: actorIsPlatformOperator, change: "change the platform operator's password",
        on: connection)
      try await connection.query(
        "UPDATE users SET password_hash = \(hash), updated_at = now() WHERE tenant_id = \(tenantID) AND id = \(id)")
      // Other sessions end when the password changes.
      try await connection.query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(id) AND revoked_at IS NULL")
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "set_password", entity: "user", entityID: id.uuidString.lowercased(), before: "",
          after: ""),
        tenantID: tenantID, on: connection)
    }
  }

  /// Locks user `id` (in `tenantID`) for the rest of the transaction; `NOT_FOUND` when there is
  /// none, `PERMISSION_DENIED` when it is the platform operator and the actor is not one (`unless`),
  /// since only an operator may `change` the operator's account.
  static func lockRefusingOperator(
    id: UUID, tenantID: UUID, unless actorIsPlatformOperator: Bool, change: String, on connection: PostgresConnection
  ) async throws {
    guard
      let target = try await connection.query(
        "SELECT platform_operator FROM users WHERE tenant_id = \(tenantID) AND id = \(id) FOR UPDATE"
      ).first
    else { throw RPCError(code: .notFound, message: "No user \(id.uuidString.lowercased()) in this tenant.") }
    if try target.decode(Bool.self), !actorIsPlatformOperator {
      throw RPCError(code: .permissionDenied, message: "Only a platform operator may \(change).")
    }
  }

  /// Everything stored about user `id` as one JSON document (assembled by the database, on a
  /// read-only snapshot); `nil` when the tenant has no such user.
  func exportData(id: UUID, tenantID: UUID) async throws(RPCError) -> String? {
    try await self.database.write(isolationLevel: .repeatableRead, readOnly: true) { connection in
      let (json, exists) = try await connection.query(
        """
        SELECT jsonb_build_object(
          'user', (SELECT to_jsonb(u) - 'password_hash' FROM users u WHERE u.id = \(id) AND u.tenant_id = \(tenantID)),
          'preferences', (SELECT to_jsonb(p) FROM user_preferences p WHERE p.user_id = \(id)),
          'dashboards', coalesce((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.created_at) FROM dashboard_layouts d
                                  WHERE d.user_id = \(id)), '[]'),
          'api_keys_created', coalesce((SELECT jsonb_agg(to_jsonb(k) - 'key_hash' ORDER BY k.created_at) FROM api_keys k
                                        WHERE k.created_by = \(id) AND k.tenant_id = \(tenantID)), '[]'),
          'sessions', coalesce((SELECT jsonb_agg(jsonb_build_object('issued_at', r.issued_at, 'expires_at', r.expires_at,
                                        'rotated_at', r.rotated_at, 'revoked_at', r.revoked_at) ORDER BY r.issued_at)
                                FROM refresh_tokens r WHERE r.user_id = \(id)), '[]'),
          'audit_events', coalesce((SELECT jsonb_agg(jsonb_build_object('sequence', a.seq, 'actor', a.actor,
                                        'action', a.action, 'entity', a.entity, 'entity_id', a.entity_id,
                                        'before', a.before_json, 'after', a.after_json, 'at_us', a.at_us) ORDER BY a.seq)
                                    FROM audit_events a WHERE a.tenant_id = \(tenantID)
                                      AND (a.entity_id = \(id.uuidString.lowercased()) OR a.actor = \(id.uuidString.lowercased()))), '[]')
        )::text, EXISTS (SELECT 1 FROM users WHERE id = \(id) AND tenant_id = \(tenantID))
        """
      ).first!.decode((String, Bool).self)
      return exists ? json : nil
    }
  }

  /// Anonymises user `id`: personal fields cleared, deactivated, password scrambled, sessions
  /// and keys revoked, private dashboards and preferences deleted, audit payloads about them
  /// redacted, and the change audited. Only a platform operator may anonymise the platform
  /// operator. Returns the stored user and how many audit rows were redacted.
  func anonymize(
    _ userID: UUID, scrambledPasswordHash: String, actor: String, actorIsPlatformOperator: Bool, tenantID: UUID
  ) async throws(RPCError) -> (user: UserRecord, redactedEvents: Int) {
    let id = userID.uuidString.lowercased()
    return try await self.database.write { connection in
      // Checked on the locked row: only a platform operator may anonymise the platform operator.
      try await Self.lockRefusingOperator(
        id: userID, tenantID: tenantID, unless: actorIsPlatformOperator, change: "anonymise the platform operator",
        on: connection)
      guard
        let row = try await connection.query(
          """
          UPDATE users SET email = \("anonymized-" + id + "@invalid"), phone = NULL, username = '', full_name = '',
            active = false, verified = false, receive_email = false, password_hash = \(scrambledPasswordHash), updated_at = now()
          WHERE id = \(userID) AND tenant_id = \(tenantID)
          RETURNING \(columns: UserRecord.self)
          """
        ).first
      else { throw RPCError(code: .notFound, message: "No user \(id) in this tenant.") }
      try await connection.query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(userID) AND revoked_at IS NULL")
      try await ApiKeyStore.revokeKeys(
        createdBy: userID, actor: actor, reason: "creator anonymised", on: connection)
      try await connection.query("DELETE FROM user_preferences WHERE user_id = \(userID)")
      try await connection.query("DELETE FROM dashboard_layouts WHERE user_id = \(userID) AND NOT shared")
      try await connection.query(
        "UPDATE dashboard_layouts SET name = 'Shared dashboard' WHERE user_id = \(userID) AND shared")
      let redacted = try await AuditLog.redact(entityID: id, tenantID: tenantID, on: connection)
      let user = try UserRecord(row: row)
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "anonymize", entity: "user", entityID: id, before: "{\"redacted\":true}",
          after: user.auditJSON),
        tenantID: tenantID, on: connection)
      return (user, redacted)
    }
  }
}

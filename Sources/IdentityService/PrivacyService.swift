import Auth
import Foundation
import Postgres
public import IdentityV1Protos
public import RPCCore
import ServiceKit

/// `identity.v1.Privacy`: exporting everything stored about a user, and anonymising them.
public struct PrivacyService: Identity_V1_Privacy.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  public func exportUserData(request: Identity_V1_ExportUserDataRequest, context: ServerContext) async throws
    -> Identity_V1_ExportUserDataResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let userID = try parseID(request.userId, what: "user_id")
    // One JSON document assembled by the database from the user's rows (read-only snapshot).
    let json = try await self.context.database.transaction(on: self.context.pool, isolationLevel: .repeatableRead, readOnly: true) {
      connection in
      try await connection.query(
        """
        SELECT jsonb_build_object(
          'user', (SELECT to_jsonb(u) - 'password_hash' FROM users u WHERE u.id = \(userID) AND u.tenant_id = \(tenantID)),
          'preferences', (SELECT to_jsonb(p) FROM user_preferences p WHERE p.user_id = \(userID)),
          'dashboards', coalesce((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.created_at) FROM dashboard_layouts d
                                  WHERE d.user_id = \(userID)), '[]'),
          'api_keys_created', coalesce((SELECT jsonb_agg(to_jsonb(k) - 'key_hash' ORDER BY k.created_at) FROM api_keys k
                                        WHERE k.created_by = \(userID) AND k.tenant_id = \(tenantID)), '[]'),
          'sessions', coalesce((SELECT jsonb_agg(jsonb_build_object('issued_at', r.issued_at, 'expires_at', r.expires_at,
                                        'rotated_at', r.rotated_at, 'revoked_at', r.revoked_at) ORDER BY r.issued_at)
                                FROM refresh_tokens r WHERE r.user_id = \(userID)), '[]'),
          'audit_events', coalesce((SELECT jsonb_agg(jsonb_build_object('sequence', a.seq, 'actor', a.actor,
                                        'action', a.action, 'entity', a.entity, 'entity_id', a.entity_id,
                                        'before', a.before_json, 'after', a.after_json, 'at_us', a.at_us) ORDER BY a.seq)
                                    FROM audit_events a WHERE a.tenant_id = \(tenantID)
                                      AND (a.entity_id = \(userID.uuidString.lowercased()) OR a.actor = \(userID.uuidString.lowercased()))), '[]')
        )::text, EXISTS (SELECT 1 FROM users WHERE id = \(userID) AND tenant_id = \(tenantID))
        """
      ).first!
    }
    guard try json.decode(column: 1, as: Bool.self) else {
      throw RPCError(code: .notFound, message: "No user \(userID.uuidString.lowercased()) in this tenant.")
    }
    var response = Identity_V1_ExportUserDataResponse()
    response.json = try json.decode(column: 0, as: String.self)
    return response
  }

  public func anonymizeUser(request: Identity_V1_AnonymizeUserRequest, context: ServerContext) async throws
    -> Identity_V1_AnonymizeUserResponse
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let userID = try parseID(request.userId, what: "user_id")
    if userID.uuidString.lowercased() == caller.subject.lowercased() {
      throw RPCError(code: .failedPrecondition, message: "Admins cannot anonymise themselves.")
    }
    let scrambled = try await self.context.hashPassword(SecureRandom.token())
    let id = userID.uuidString.lowercased()
    let callerIsPlatformOperator = caller.kind == .platformOperator
    let (user, redacted) = try await self.context.database.transaction(on: self.context.pool) { connection in
      // Checked on the locked row: only a platform operator may anonymise the platform operator.
      try await UserWrites.lockRefusingOperator(
        id: userID, tenantID: tenantID, unless: callerIsPlatformOperator, change: "anonymise the platform operator",
        on: connection)
      guard
        let row = try await connection.query(
          """
          UPDATE users SET email = \("anonymized-" + id + "@invalid"), phone = NULL, username = '', full_name = '',
            active = false, verified = false, receive_email = false, password_hash = \(scrambled), updated_at = now()
          WHERE id = \(userID) AND tenant_id = \(tenantID)
          RETURNING \(unescaped: UserRecord.columns)
          """
        ).first
      else { throw RPCError(code: .notFound, message: "No user \(id) in this tenant.") }
      try await connection.query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(userID) AND revoked_at IS NULL")
      try await ApiKeysService.revokeKeys(
        createdBy: userID, actor: caller.subject, reason: "creator anonymised", on: connection)
      try await connection.query("DELETE FROM user_preferences WHERE user_id = \(userID)")
      try await connection.query("DELETE FROM dashboard_layouts WHERE user_id = \(userID) AND NOT shared")
      try await connection.query(
        "UPDATE dashboard_layouts SET name = 'Shared dashboard' WHERE user_id = \(userID) AND shared")
      let redacted = try await AuditLog.redact(entityID: id, tenantID: tenantID, on: connection)
      let user = try UserRecord(row: row)
      try await AuditLog.append(
        AuditLog.Entry(
          actor: caller.subject, action: "anonymize", entity: "user", entityID: id, before: "{\"redacted\":true}",
          after: user.auditJSON),
        tenantID: tenantID, on: connection)
      return (user, redacted)
    }
    var response = Identity_V1_AnonymizeUserResponse()
    response.user = user.message
    response.auditEventsRedacted = Int64(redacted)
    return response
  }
}

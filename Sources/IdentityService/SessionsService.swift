import Auth
import Foundation
import ServiceKit
import Postgres
import PostgresRPC
public import IdentityV1Protos
public import RPCCore

/// `identity.v1.Sessions`: login, refresh-token rotation, logout and the signing keys.
public struct SessionsService: Identity_V1_Sessions.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  /// Verified against when the account does not exist, so that a missing account costs the
  /// same time as a wrong password.
  static let decoyHash = try! PasswordHash.hash(SecureRandom.token(), cost: .interactive)

  public func login(request: Identity_V1_LoginRequest, context: ServerContext) async throws -> Identity_V1_Session {
    let tenantID = try parseID(request.tenantId, what: "tenant_id")
    let email = request.email.trimmingCharacters(in: .whitespaces).lowercased()
    guard !email.isEmpty, !request.password.isEmpty else {
      throw RPCError(code: .invalidArgument, message: "email and password are required.")
    }
    // The attempt is counted against the account and the client address before the password
    // is checked, so that concurrent guesses cannot get past the limit (LoginThrottle).
    let throttle = LoginThrottle(context: self.context)
    let accountKey = throttle.accountKey(tenantID: tenantID, email: email)
    var found: PostgresRow?
    var storedHash = Self.decoyHash
    let (attempt, passwordMatches) = try await throttle.attempt(
      [accountKey, throttle.clientKey(address: context.clientAddress ?? ClientAddress.of(peer: context.remotePeer))]
    ) {
      found = try await self.context.database.translatingErrors {
        try await self.context.pool.query(
          """
          SELECT \(unescaped: UserRecord.columns), password_hash FROM users
          WHERE tenant_id = \(tenantID) AND lower(email) = \(email)
          """
        ).first
      }
      storedHash = try found?.decode(column: 15, as: String.self) ?? Self.decoyHash
      let matches = try await self.context.verifyPassword(request.password, against: storedHash)
      return found != nil && matches
    }
    guard let found, passwordMatches else {
      throw RPCError(code: .unauthenticated, message: "Wrong tenant, email or password.")
    }
    let user = try UserRecord(row: found)
    guard user.active else {
      try await throttle.release(attempt)
      throw RPCError(code: .permissionDenied, message: "This account is deactivated.")
    }
    try await throttle.succeeded(attempt, clearing: [accountKey.name])
    let rehash = PasswordHash.needsRehash(storedHash, cost: self.context.settings.passwordCost)
      ? try await self.context.hashPassword(request.password) : nil
    let refresh = RefreshToken.make()
    let lifetime = self.context.settings.refreshTokenLifetime.seconds
    let session = try await self.context.database.transaction(on: self.context.pool) { connection in
      try await connection.query(
        """
        UPDATE users SET last_login_at = now(), last_access_at = now(),
          password_hash = coalesce(\(rehash), password_hash)
        WHERE id = \(user.id)
        """)
      try await connection.query(
        """
        INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, user_id, expires_at)
        VALUES (\(refresh.hash), \(UUID()), \(user.tenantID), \(user.id), now() + make_interval(secs => \(lifetime)))
        """)
      try await AuditLog.append(
        AuditLog.Entry(
          actor: user.id.uuidString.lowercased(), action: "login", entity: "session",
          entityID: user.id.uuidString.lowercased(), before: "", after: ""),
        tenantID: user.tenantID, on: connection)
      return user
    }
    return try await self.session(for: session, refreshToken: refresh.token)
  }

  public func refresh(request: Identity_V1_RefreshRequest, context _: ServerContext) async throws -> Identity_V1_Session {
    guard !request.refreshToken.isEmpty else {
      throw RPCError(code: .invalidArgument, message: "refresh_token is required.")
    }
    let presented = RefreshToken.hash(request.refreshToken)
    let next = RefreshToken.make()
    let grace = self.context.settings.refreshReuseGrace.seconds
    let lifetime = self.context.settings.refreshTokenLifetime.seconds
    enum Outcome: Sendable {
      case issued(UserRecord)
      case reused
      case invalid(String)
    }
    let outcome: Outcome = try await self.context.database.transaction(on: self.context.pool) { connection in
      guard
        let token = try await connection.query(
          """
          SELECT family_id, user_id, tenant_id, expires_at < now(), revoked_at IS NOT NULL,
                 rotated_at IS NOT NULL, rotated_at > now() - make_interval(secs => \(grace))
          FROM refresh_tokens WHERE token_hash = \(presented) FOR UPDATE
          """
        ).first
      else { return .invalid("The refresh token is not valid.") }
      let family = try token.decode(column: 0, as: UUID.self)
      let userID = try token.decode(column: 1, as: UUID.self)
      let tenantID = try token.decode(column: 2, as: UUID.self)
      if try token.decode(column: 4, as: Bool.self) { return .invalid("The refresh token was revoked.") }
      if try token.decode(column: 3, as: Bool.self) { return .invalid("The refresh token has expired.") }
      if try token.decode(column: 5, as: Bool.self), !(try token.decode(column: 6, as: Bool?.self) ?? false) {
        // A token used before, outside the retry grace: treat it as stolen.
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
        let row = try await connection.query(
          "SELECT \(unescaped: UserRecord.columns) FROM users WHERE id = \(userID) AND tenant_id = \(tenantID)"
        ).first
      else { return .invalid("The refresh token's user no longer exists.") }
      let user = try UserRecord(row: row)
      guard user.active else { return .invalid("This account is deactivated.") }
      try await connection.query(
        "UPDATE refresh_tokens SET rotated_at = coalesce(rotated_at, now()) WHERE token_hash = \(presented)")
      try await connection.query(
        """
        INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, user_id, expires_at)
        VALUES (\(next.hash), \(family), \(tenantID), \(userID), now() + make_interval(secs => \(lifetime)))
        """)
      try await connection.query("UPDATE users SET last_access_at = now() WHERE id = \(userID)")
      return .issued(user)
    }
    switch outcome {
    case .issued(let user):
      return try await self.session(for: user, refreshToken: next.token)
    case .reused:
      throw RPCError(
        code: .unauthenticated,
        message: "The refresh token was already used; every session of this login has been revoked.")
    case .invalid(let reason):
      throw RPCError(code: .unauthenticated, message: reason)
    }
  }

  public func logout(request: Identity_V1_LogoutRequest, context: ServerContext) async throws -> Identity_V1_LogoutResponse {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let userID = try parseID(caller.subject, what: "the caller's id")
    guard !request.refreshToken.isEmpty else {
      throw RPCError(code: .invalidArgument, message: "refresh_token is required.")
    }
    let presented = RefreshToken.hash(request.refreshToken)
    try await self.context.database.transaction(on: self.context.pool) { connection in
      let owned = try await connection.query(
        "SELECT 1 FROM refresh_tokens WHERE token_hash = \(presented) AND user_id = \(userID) AND tenant_id = \(tenantID)")
      guard !owned.isEmpty else {
        throw RPCError(code: .notFound, message: "No session of yours has this refresh token.")
      }
      let revoked = try await connection.query(
        """
        UPDATE refresh_tokens SET revoked_at = now()
        WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = \(presented)
                           AND user_id = \(userID) AND tenant_id = \(tenantID))
          AND revoked_at IS NULL
        """)
      if (revoked.affectedRows ?? 0) > 0 {
        try await AuditLog.append(
          AuditLog.Entry(
            actor: caller.subject, action: "logout", entity: "session", entityID: caller.subject, before: "", after: ""),
          tenantID: tenantID, on: connection)
      }
    }
    return Identity_V1_LogoutResponse()
  }

  public func getSigningKeys(request: Identity_V1_GetSigningKeysRequest, context _: ServerContext) async throws
    -> Identity_V1_GetSigningKeysResponse
  {
    let keys = try await self.context.database.translatingErrors { try await self.context.keys.published() }
    var response = Identity_V1_GetSigningKeysResponse()
    response.keys = keys.map(Self.message)
    return response
  }

  public func rotateSigningKey(request: Identity_V1_RotateSigningKeyRequest, context: ServerContext) async throws
    -> Identity_V1_RotateSigningKeyResponse
  {
    let caller = try context.requireCaller()
    guard caller.kind == .platformOperator else {
      throw RPCError(code: .permissionDenied, message: "Only platform operators rotate signing keys.")
    }
    let key = try await self.context.database.translatingErrors { try await self.context.keys.rotate() }
    var response = Identity_V1_RotateSigningKeyResponse()
    response.key = Self.message(key)
    return response
  }

  // MARK: helpers

  private func session(for user: UserRecord, refreshToken: String) async throws -> Identity_V1_Session {
    let access = try await self.context.issueAccessToken(
      subject: user.id.uuidString.lowercased(), tenantID: user.tenantID.uuidString.lowercased(), role: user.role,
      kind: user.platformOperator ? .platformOperator : .user)
    var session = Identity_V1_Session()
    session.accessToken = access.token
    session.accessTokenExpiresAtMs = access.expiresAtMilliseconds
    session.refreshToken = refreshToken
    session.refreshTokenExpiresAtMs = (UnixTime.seconds() + Int64(self.context.settings.refreshTokenLifetime.seconds)) * 1000
    session.user = user.message
    return session
  }

  static func message(_ key: SigningKeyRing.StoredKey) -> Identity_V1_SigningKey {
    var message = Identity_V1_SigningKey()
    message.keyId = key.keyID
    message.algorithm = "EdDSA"
    message.publicKey = key.key.publicKey
    message.activeFromMs = key.activeFrom.unixMilliseconds
    message.publishedUntilMs = key.publishedUntil?.unixMilliseconds ?? 0
    return message
  }
}

/// Opaque refresh tokens: 32 random bytes, stored as their SHA-256.
enum RefreshToken {
  static func make() -> (token: String, hash: [UInt8]) {
    let token = "rt_" + SecureRandom.token(byteCount: 32)
    return (token, self.hash(token))
  }

  static func hash(_ token: String) -> [UInt8] { Digest.sha256(token) }
}

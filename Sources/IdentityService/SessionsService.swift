import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
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
    let email = request.email.trimmingWhitespace().lowercased()
    guard !email.isEmpty, !request.password.isEmpty else {
      throw RPCError(code: .invalidArgument, message: "email and password are required.")
    }
    // The attempt is counted against the account and the client address before the password
    // is checked, so that concurrent guesses cannot get past the limit (LoginThrottle).
    let throttle = LoginThrottle(context: self.context)
    let accountKey = throttle.accountKey(tenantID: tenantID, email: email)
    var found: UserRecord?
    var storedHash = Self.decoyHash
    let (attempt, passwordMatches) = try await throttle.attempt(
      [accountKey, throttle.clientKey(address: context.clientAddress ?? ClientAddress.of(peer: context.remotePeer))]
    ) {
      let login = try await self.context.sessions.userForLogin(tenantID: tenantID, email: email)
      found = login?.user
      storedHash = login?.passwordHash ?? Self.decoyHash
      let matches = try await self.context.verifyPassword(request.password, against: storedHash)
      return found != nil && matches
    }
    guard let user = found, passwordMatches else {
      throw RPCError(code: .unauthenticated, message: "Wrong tenant, email or password.")
    }
    guard user.active else {
      try await throttle.release(attempt)
      throw RPCError(code: .permissionDenied, message: "This account is deactivated.")
    }
    try await throttle.succeeded(attempt, clearing: [accountKey.name])
    let rehash = PasswordHash.needsRehash(storedHash, cost: self.context.settings.passwordCost)
      ? try await self.context.hashPassword(request.password) : nil
    let refresh = RefreshToken.make()
    let lifetime = self.context.settings.refreshTokenLifetime.seconds
    try await self.context.sessions.startSession(
      for: user, rehashedPassword: rehash, refreshTokenHash: refresh.hash, lifetimeSeconds: lifetime)
    return try await self.session(for: user, refreshToken: refresh.token)
  }

  public func refresh(request: Identity_V1_RefreshRequest, context _: ServerContext) async throws -> Identity_V1_Session {
    guard !request.refreshToken.isEmpty else {
      throw RPCError(code: .invalidArgument, message: "refresh_token is required.")
    }
    let presented = RefreshToken.hash(request.refreshToken)
    let next = RefreshToken.make()
    let grace = self.context.settings.refreshReuseGrace.seconds
    let lifetime = self.context.settings.refreshTokenLifetime.seconds
    let outcome = try await self.context.sessions.rotate(
      presented: presented, next: next.hash, graceSeconds: grace, lifetimeSeconds: lifetime)
    switch outcome {
    case .issued(let user):
      return try await self.session(for: user, refreshToken: next.token)
    case .reused:
      throw RPCError(
        code: .unauthenticated,
        message: "The refresh token was already used; every session of this login has been revoked.")
    case .unknown: throw RPCError(code: .unauthenticated, message: "The refresh token is not valid.")
    case .revoked: throw RPCError(code: .unauthenticated, message: "The refresh token was revoked.")
    case .expired: throw RPCError(code: .unauthenticated, message: "The refresh token has expired.")
    case .userGone: throw RPCError(code: .unauthenticated, message: "The refresh token's user no longer exists.")
    case .userDeactivated: throw RPCError(code: .unauthenticated, message: "This account is deactivated.")
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
    guard
      try await self.context.sessions.endSession(
        presented: presented, userID: userID, actor: caller.subject, tenantID: tenantID)
    else { throw RPCError(code: .notFound, message: "No session of yours has this refresh token.") }
    return Identity_V1_LogoutResponse()
  }

  public func getSigningKeys(request: Identity_V1_GetSigningKeysRequest, context _: ServerContext) async throws
    -> Identity_V1_GetSigningKeysResponse
  {
    let keys = try await self.context.database.translating { try await self.context.keys.published() }
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
    let key = try await self.context.database.translating { try await self.context.keys.rotate() }
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

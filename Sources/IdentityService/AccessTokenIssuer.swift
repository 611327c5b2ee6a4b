import Auth
import RPCCore

extension IdentityContext {
  /// Signs an access token with the current key: (token, expiry in Unix milliseconds).
  func issueAccessToken(subject: String, tenantID: String, role: Role, kind: Caller.Kind) async throws
    -> (token: String, expiresAtMilliseconds: Int64)
  {
    let key = try await self.database.translating { try await self.keys.current() }
    let now = UnixTime.seconds()
    let lifetime = Int64(self.settings.accessTokenLifetime.seconds)
    let claims = AccessTokenClaims(
      issuer: self.settings.issuer, subject: subject, tenantID: tenantID, role: role, kind: kind, issuedAt: now,
      expiresAt: now + lifetime, tokenID: SecureRandom.token(byteCount: 12))
    return (AccessToken.sign(claims, keyID: key.keyID, key: key.key), (now + lifetime) * 1000)
  }
}

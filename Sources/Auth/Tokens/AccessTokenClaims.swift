public import RPCCore

/// The claims of an access token (a JWT signed with EdDSA).
public struct AccessTokenClaims: Sendable, Hashable, Codable {
  /// Who issued it (`iss`), such as `identity`.
  public var issuer: String
  /// The user or API key id (`sub`).
  public var subject: String
  /// The tenant (`tenant`).
  public var tenantID: String
  /// The role within the tenant (`role`).
  public var role: Role
  /// The principal kind (`kind`); absent means `user`.
  public var kind: Caller.Kind?
  /// Issued at, Unix seconds (`iat`).
  public var issuedAt: Int64
  /// Expires at, Unix seconds (`exp`).
  public var expiresAt: Int64
  /// Unique token id (`jti`).
  public var tokenID: String

  public init(
    issuer: String, subject: String, tenantID: String, role: Role, kind: Caller.Kind? = nil,
    issuedAt: Int64, expiresAt: Int64, tokenID: String
  ) {
    self.issuer = issuer
    self.subject = subject
    self.tenantID = tenantID
    self.role = role
    self.kind = kind
    self.issuedAt = issuedAt
    self.expiresAt = expiresAt
    self.tokenID = tokenID
  }

  enum CodingKeys: String, CodingKey {
    case issuer = "iss"
    case subject = "sub"
    case tenantID = "tenant"
    case role
    case kind
    case issuedAt = "iat"
    case expiresAt = "exp"
    case tokenID = "jti"
  }

  /// The caller these claims describe.
  public var caller: Caller {
    Caller(tenantID: self.tenantID, subject: self.subject, role: self.role, kind: self.kind ?? .user)
  }
}

public import RPCCore

/// What a caller may do within its tenant: `viewer` reads, `editor` also writes, `admin` also
/// manages users and settings.
public enum Role: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
  case viewer
  case editor
  case admin

  private var rank: Int {
    switch self {
    case .viewer: 0
    case .editor: 1
    case .admin: 2
    }
  }

  public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// The authenticated principal of the current call, bound by ``AuthenticationInterceptor``.
public struct Caller: Sendable, Hashable {
  /// What kind of principal the credential named.
  public enum Kind: String, Sendable, Hashable, Codable {
    /// A user who logged in.
    case user
    /// A service account or script using an API key (exchanged for an access token).
    case apiKey = "api_key"
    /// The suite's operator: may create tenants; still scoped to a tenant for everything else.
    case platformOperator = "platform_operator"
  }

  /// The tenant every query of this call is scoped to.
  public var tenantID: String
  /// The user id (or API key id) the credential was issued to.
  public var subject: String
  public var role: Role
  public var kind: Kind

  public init(tenantID: String, subject: String, role: Role, kind: Kind = .user) {
    self.tenantID = tenantID
    self.subject = subject
    self.role = role
    self.kind = kind
  }

  /// The caller of the call being handled; `nil` on public methods or outside a call.
  @TaskLocal public static var current: Caller?

  /// The current caller if it has at least `role`.
  ///
  /// - Throws: `UNAUTHENTICATED` without a caller, `PERMISSION_DENIED` when its role is lower.
  public static func require(_ role: Role) throws(RPCError) -> Caller {
    guard let caller = self.current else {
      throw RPCError(code: .unauthenticated, message: "This method needs a bearer token.")
    }
    guard caller.role >= role else {
      throw RPCError(
        code: .permissionDenied, message: "This method needs the \(role.rawValue) role; the caller is \(caller.role.rawValue).")
    }
    return caller
  }
}

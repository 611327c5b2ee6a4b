/// What a caller may do within its tenant: `viewer` reads, `editor` also writes, `admin` also
/// manages users and settings.
///
/// Here, next to ``ServerContext``, because a call's caller is part of its context and a
/// method's descriptor names the least role it needs (``MethodAccess``); credentials and their
/// verification live in `Auth`.
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

/// The authenticated principal of a call, set on ``ServerContext/caller`` by the
/// authentication interceptor.
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
}

/// Who may call a method, as its proto declares it with `option (suite.v1.access)`
/// (proto/suite/v1/access.proto); generated into ``MethodDescriptor/access``.
public enum MethodAccess: Sendable, Hashable, CustomStringConvertible {
  /// Callable without a credential (a credential, when sent, is still verified).
  case `public`
  /// Needs a credential whose role is at least this one.
  case role(Role)

  public var description: String {
    switch self {
    case .public: "public"
    case .role(let role): role.rawValue
    }
  }
}

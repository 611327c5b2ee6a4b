public import Auth
public import RPCCore

/// The identity service's RPC surface: its services and who may call what.
public enum IdentityServer {
  /// The four identity services over `context`.
  public static func services(context: IdentityContext) -> [any RegistrableRPCService] {
    [
      TenantsService(context: context), UsersService(context: context), SessionsService(context: context),
      AuditService(context: context),
    ]
  }

  /// Login, Refresh and GetSigningKeys are public; reads need a viewer; user management and the
  /// audit log need an admin (handlers check finer rules, such as platform operators).
  public static let policy = AuthPolicy(
    publicMethods: [
      "/identity.v1.Sessions/Login", "/identity.v1.Sessions/Refresh", "/identity.v1.Sessions/GetSigningKeys",
    ],
    requiredRoles: [
      "/identity.v1.Tenants/GetTenant": .viewer,
      "/identity.v1.Users/GetUser": .viewer,
      "/identity.v1.Users/ListUsers": .viewer,
      "/identity.v1.Users/CountUsers": .viewer,
      "/identity.v1.Users/SetPassword": .viewer,
      "/identity.v1.Sessions/Logout": .viewer,
    ],
    defaultRole: .admin)

  /// The interceptor that authenticates every call with this service's own keys.
  public static func authentication(context: IdentityContext) -> AuthenticationInterceptor {
    AuthenticationInterceptor(verifier: context.accessTokenVerifier(), policy: self.policy)
  }
}

public import Auth
public import RPCCore

/// The identity service's RPC surface: its services and who may call what.
public enum IdentityServer {
  /// The four identity services over `context`.
  public static func services(context: IdentityContext) -> [any RegistrableRPCService] {
    [
      TenantsService(context: context), UsersService(context: context), SessionsService(context: context),
      AuditService(context: context), ApiKeysService(context: context), UserSettingsService(context: context),
      PrivacyService(context: context),
    ]
  }

  /// Login, Refresh and GetSigningKeys are public; reads need a viewer; user management and the
  /// audit log need an admin (handlers check finer rules, such as platform operators).
  public static let policy = AuthPolicy(
    publicMethods: [
      "/identity.v1.Sessions/Login", "/identity.v1.Sessions/Refresh", "/identity.v1.Sessions/GetSigningKeys",
      "/identity.v1.ApiKeys/ExchangeApiKey",
    ],
    requiredRoles: [
      "/identity.v1.Tenants/GetTenant": .viewer,
      "/identity.v1.Users/GetUser": .viewer,
      "/identity.v1.Users/ListUsers": .viewer,
      "/identity.v1.Users/CountUsers": .viewer,
      "/identity.v1.Users/SetPassword": .viewer,
      "/identity.v1.Sessions/Logout": .viewer,
      "/identity.v1.UserSettings/GetPreferences": .viewer, "/identity.v1.UserSettings/UpdatePreferences": .viewer,
      "/identity.v1.UserSettings/ListDashboards": .viewer, "/identity.v1.UserSettings/SaveDashboard": .viewer,
      "/identity.v1.UserSettings/DeleteDashboard": .viewer,
    ],
    defaultRole: .admin)

  /// The interceptor that authenticates every call with this service's own keys.
  public static func authentication(context: IdentityContext) -> AuthenticationInterceptor {
    AuthenticationInterceptor(
      verifier: IdentityCredentialVerifier(tokens: context.accessTokenVerifier(), apiKeys: ApiKeyVerifier(context: context)),
      policy: self.policy)
  }
}

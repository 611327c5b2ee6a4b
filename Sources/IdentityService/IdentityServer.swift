public import Auth
public import RPCCore

/// The identity service's RPC surface. Who may call what is declared on each rpc in
/// proto/identity/v1/identity.proto (`suite.v1.access`): Login, Refresh, GetSigningKeys and
/// ExchangeApiKey are public; handlers check finer rules, such as platform operators.
public enum IdentityServer {
  /// The four identity services over `context`.
  public static func services(context: IdentityContext) -> [any RegistrableRPCService] {
    [
      TenantsService(context: context), UsersService(context: context), SessionsService(context: context),
      AuditService(context: context), ApiKeysService(context: context), UserSettingsService(context: context),
      PrivacyService(context: context),
    ]
  }

  /// The interceptor that authenticates every call with this service's own keys.
  /// The access of each method is the one its rpc declares (proto/identity/v1/identity.proto).
  public static func authentication(context: IdentityContext) throws(MissingAccessRule) -> AuthenticationInterceptor {
    try AuthenticationInterceptor(
      verifier: IdentityCredentialVerifier(tokens: context.accessTokenVerifier(), apiKeys: ApiKeyVerifier(context: context)),
      services: self.services(context: context))
  }
}

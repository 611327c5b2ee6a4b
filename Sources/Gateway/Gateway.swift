public import Auth
public import Logging
public import RPCCore
public import ServiceKit

/// Everything the gateway serves, assembled from its configuration.
public struct Gateway: Sendable {
  public let proxy: Proxy
  public let interceptors: [any ServerInterceptor]

  /// The gateway's own services and the proxied ones.
  public var services: [any RegistrableRPCService] { [self.proxy.service, OverviewService(proxy: self.proxy)] }

  /// Identity methods that work without a token.
  public static let identityPublicMethods: Set<String> = [
    "/identity.v1.Sessions/Login", "/identity.v1.Sessions/Refresh", "/identity.v1.Sessions/GetSigningKeys",
  ]

  public init(configuration: GatewayConfiguration, logger: Logger) throws {
    self.proxy = Proxy(configuration: configuration, logger: logger)
    var interceptors: [any ServerInterceptor] = [
      AccessLogInterceptor(logger: logger), RequestIdentityInterceptor(), RequestMetadataInterceptor(),
    ]
    let keys: (any VerificationKeyProvider)?
    switch configuration.authentication {
    case .identity(let address): keys = ServiceAuthentication.identityKeys(address: address)
    case .keys(let text): keys = try ServiceAuthentication.keys(identityAddress: nil, publicKeys: text)
    case .off: keys = nil
    }
    if case .identity(let address) = configuration.authentication {
      interceptors.append(ApiKeyExchangeInterceptor(identity: address))
    }
    if let keys {
      // The gateway authenticates; the services behind it check roles (and tokens) again.
      let policy = AuthPolicy(
        publicMethods: configuration.publicMethods.union(Self.identityPublicMethods), requiredRoles: [:],
        defaultRole: .viewer)
      interceptors.append(
        AuthenticationInterceptor(verifier: AccessTokenVerifier(keys: keys, issuer: "identity"), policy: policy))
    }
    // Rate limits (and the tenant of the access-log line) need the interceptor; without either
    // it is left out.
    if configuration.tenantRateLimit != nil || configuration.clientRateLimit != nil || logger.logLevel <= .info {
      interceptors.append(
        RateLimitInterceptor(
          tenant: configuration.tenantRateLimit.map { RateLimiter(perSecond: $0.perSecond, burst: $0.burst) },
          client: configuration.clientRateLimit.map { RateLimiter(perSecond: $0.perSecond, burst: $0.burst) }))
    }
    self.interceptors = interceptors
  }
}

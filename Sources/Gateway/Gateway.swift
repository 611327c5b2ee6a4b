import Auth
public import Logging
public import RPCCore
import ServiceKit

/// Everything the gateway serves, assembled from its configuration.
public struct Gateway: Sendable {
  public let proxy: Proxy
  public let interceptors: [any ServerInterceptor]
  /// The task-free path for unary calls (see ``GatewayEventLoopPath``); set it as the server's
  /// `eventLoopUnaryHandler`.
  public let eventLoopPath: GatewayEventLoopPath

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
    var authentication: AuthenticationInterceptor?
    if let keys {
      // The gateway authenticates; the services behind it check roles (and tokens) again.
      let policy = AuthPolicy(
        publicMethods: configuration.publicMethods.union(Self.identityPublicMethods), requiredRoles: [:],
        defaultRole: .viewer)
      authentication = AuthenticationInterceptor(
        verifier: AccessTokenVerifier(keys: keys, issuer: "identity"), policy: policy)
      interceptors.append(authentication!)
    }
    let rateLimits = RateLimitInterceptor(
      tenant: configuration.tenantRateLimit.map { RateLimiter(perSecond: $0.perSecond, burst: $0.burst) },
      client: configuration.clientRateLimit.map { RateLimiter(perSecond: $0.perSecond, burst: $0.burst) })
    // Rate limits (and the tenant of the access-log line) need the interceptor; without either
    // it is left out.
    if rateLimits.isLimiting || logger.logLevel <= .info {
      interceptors.append(rateLimits)
    }
    self.interceptors = interceptors
    self.eventLoopPath = GatewayEventLoopPath(
      proxy: self.proxy, authentication: authentication, rateLimits: rateLimits.isLimiting ? rateLimits : nil,
      logger: logger)
  }
}

public import Auth
public import Logging
public import RPCCore
import CatalogV1Protos
import GatewayV1Protos
import IdentityV1Protos
import RPCHTTP2
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

  /// The methods of every service the gateway knows (the proto files it is built with), each
  /// with its declared access: those declared public are public here too.
  public static let knownMethods: [MethodDescriptor] =
    IdentityV1ProtoMethods.all + CatalogV1ProtoMethods.all + GatewayV1ProtoMethods.all

  /// The gateway's access rules: the methods the protos declare public, and the `public` lines
  /// of the configuration, work without a token; every other call needs a valid one of any role
  /// (the services behind check their methods' roles).
  public static func accessRules(configuration: GatewayConfiguration) -> AccessRules {
    AccessRules.edge(declared: Self.knownMethods, alsoPublic: configuration.publicMethods)
  }

  public init(configuration: GatewayConfiguration, logger: Logger) throws {
    self.proxy = Proxy(configuration: configuration, logger: logger)
    var interceptors: [any ServerInterceptor] = [
      AccessLogInterceptor(logger: logger), RequestIdentityInterceptor(),
    ]
    let tenantLimiter = configuration.tenantRateLimit.map { RateLimiter(perSecond: $0.perSecond, burst: $0.burst) }
    let clientLimiter = configuration.clientRateLimit.map { RateLimiter(perSecond: $0.perSecond, burst: $0.burst) }
    if clientLimiter != nil {
      // Per client address ahead of authentication: calls that fail it (a flood of made-up
      // tokens or API keys, each costing a signature check or an exchange with identity) use up
      // the client's budget too.
      interceptors.append(RateLimitInterceptor(tenant: nil, client: clientLimiter))
    }
    let keys: (any VerificationKeyProvider)?
    switch configuration.authentication {
    case .identity(let address):
      // One connection to identity for its signing keys and for API-key exchange.
      let identity = IdentityClient(
        client: RPCClient(transport: HTTP2ClientTransport(host: address.host, port: address.port)))
      keys = identity.verificationKeys
      interceptors.append(identity.apiKeyExchange())
    case .keys(let text):
      do {
        keys = try StaticVerificationKeys(parsing: text)
      } catch {
        throw KeysError(description: "AUTH_PUBLIC_KEYS: \(error)")
      }
    case .off: keys = nil
    }
    var authentication: AuthenticationInterceptor?
    if let keys {
      // The gateway authenticates; the services behind it check roles (and tokens) again.
      authentication = AuthenticationInterceptor(
        verifier: AccessTokenVerifier(keys: keys, issuer: "identity"), rules: Self.accessRules(configuration: configuration))
      interceptors.append(authentication!)
    }
    // Per tenant once the caller is known; this one also records the tenant for the access
    // line, so it stays when that line is written.
    let tenantLimits = RateLimitInterceptor(tenant: tenantLimiter, client: nil)
    if tenantLimits.isLimiting || logger.logLevel <= .info {
      interceptors.append(tenantLimits)
    }
    self.interceptors = interceptors
    // The event-loop path serves only callers whose token is already verified, so it checks
    // both limits (the same buckets) at once.
    let rateLimits = RateLimitInterceptor(tenant: tenantLimiter, client: clientLimiter)
    self.eventLoopPath = GatewayEventLoopPath(
      proxy: self.proxy, authentication: authentication, rateLimits: rateLimits.isLimiting ? rateLimits : nil,
      logger: logger)
  }
}

/// Fixed verification keys (`auth keys …`) that do not parse; the description is one line.
struct KeysError: Error, CustomStringConvertible {
  let description: String
}

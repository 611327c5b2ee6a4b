public import ArgumentParser
public import Auth
public import RPCCore
public import RPCHTTP2
public import ServiceKit

/// `--identity-address` (or `IDENTITY_ADDRESS`) and `AUTH_PUBLIC_KEYS`: how a service other
/// than identity learns the keys that verify access tokens.
public struct IdentityClientOptions: ParsableArguments, Sendable {
  @Option(help: "HOST:PORT of the identity service (default: IDENTITY_ADDRESS).")
  public var identityAddress: String?

  public init() {}

  /// The address given by the flag or the environment, as text.
  var address: String? { self.identityAddress.flatMap { $0.isEmpty ? nil : $0 } ?? Environment.value("IDENTITY_ADDRESS") }
}

/// How a hosted service authenticates its callers; the host turns it into interceptors.
public enum ServiceAuthentication: Sendable {
  /// No check by the host: the service checks callers itself (identity) or serves anyone
  /// (the interop server, the gateway, which applies its own edge rules).
  case none
  /// Access tokens issued by identity, checked against the access each registered method
  /// declares (`(suite.v1.access)`, ``MethodDescriptor/access``). The keys come from identity
  /// (`--identity-address`, `IDENTITY_ADDRESS`: fetched over one shared connection, which also
  /// exchanges API keys) or from `AUTH_PUBLIC_KEYS` (`kid=base64url,…`), exactly one of them.
  case identityTokens(IdentityClientOptions)

  /// Where tokens are verified: the parsed configuration, before anything is opened.
  enum Source {
    case none
    case identity(ListenAddress)
    case keys(StaticVerificationKeys)
  }

  func resolve() throws(StartupError) -> Source {
    guard case .identityTokens(let options) = self else { return .none }
    switch (options.address, Environment.value("AUTH_PUBLIC_KEYS")) {
    case (let address?, nil):
      guard let parsed = ListenAddress(parsing: address) else {
        throw StartupError(message: "--identity-address must be HOST:PORT, got '\(address)'.")
      }
      return .identity(parsed)
    case (nil, let text?):
      do {
        return .keys(try StaticVerificationKeys(parsing: text))
      } catch {
        throw StartupError(message: "AUTH_PUBLIC_KEYS: \(error)")
      }
    case (nil, nil):
      throw StartupError(
        message: "Tokens cannot be verified: give --identity-address (IDENTITY_ADDRESS) or AUTH_PUBLIC_KEYS.")
    case (_?, _?):
      throw StartupError(message: "Give --identity-address or AUTH_PUBLIC_KEYS, not both.")
    }
  }
}

extension ServiceAuthentication {
  /// The authentication interceptors of a server registering `services`: API-key exchange
  /// first when identity is reachable, then the access-token check against each method's
  /// declared access. The one place they are built, for the host and for ServiceTesting.
  ///
  /// - Throws: ``StartupError`` naming the methods that declare no access (such a method
  ///   cannot be served).
  public static func interceptors(
    services: [any RegistrableRPCService], keys: any VerificationKeyProvider, identity: IdentityClient?
  ) throws(StartupError) -> [any ServerInterceptor] {
    let authentication: AuthenticationInterceptor
    do {
      authentication = try AuthenticationInterceptor(
        verifier: AccessTokenVerifier(keys: keys, issuer: "identity"), services: services)
    } catch {
      throw StartupError(message: error.description)
    }
    var interceptors: [any ServerInterceptor] = []
    if let identity { interceptors.append(identity.apiKeyExchange()) }
    interceptors.append(authentication)
    return interceptors
  }
}

/// One HTTP/2 connection to identity, shared by every call a service makes there (signing
/// keys and API-key exchange).
public final class IdentityConnection: Sendable {
  public let transport: HTTP2ClientTransport
  public let client: IdentityClient

  public init(address: ListenAddress) {
    self.transport = HTTP2ClientTransport(host: address.host, port: address.port)
    self.client = IdentityClient(client: RPCClient(transport: self.transport))
  }

  /// Closes the connection.
  public func close() async {
    await self.transport.close()
  }
}

public import Auth
import IdentityV1Protos
public import RPCCore

/// What a service other than identity asks identity for, over one client (one connection):
/// the keys that verify access tokens, and the exchange of API keys for access tokens.
///
/// The client's transport is chosen by whoever links a transport: `ServiceRuntime`'s
/// `IdentityConnection` in executables, a loopback transport in tests.
public struct IdentityClient: Sendable {
  /// The client every call goes through.
  public let client: RPCClient

  /// Identity's published signing keys, cached and refetched when a token names an unknown key
  /// (see ``CachedVerificationKeys``).
  public let verificationKeys: CachedVerificationKeys

  public init(client: RPCClient) {
    self.client = client
    let sessions = Identity_V1_Sessions.Client(wrapping: client)
    self.verificationKeys = CachedVerificationKeys {
      var options = CallOptions.defaults
      options.timeout = .seconds(5)
      let response = try await sessions.getSigningKeys(Identity_V1_GetSigningKeysRequest(), options: options)
      var keys: [String: [UInt8]] = [:]
      for key in response.keys where key.algorithm == "EdDSA" && key.publicKey.count == 32 {
        keys[key.keyId] = key.publicKey
      }
      return keys
    }
  }

  /// An interceptor that lets API keys work wherever access tokens do, exchanging them here.
  public func apiKeyExchange() -> ApiKeyExchangeInterceptor {
    ApiKeyExchangeInterceptor(apiKeys: Identity_V1_ApiKeys.Client(wrapping: self.client))
  }
}

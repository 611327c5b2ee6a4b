public import Auth
import IdentityV1Protos
import RPCCore
import RPCHTTP2

/// How a service (other than identity) verifies access tokens: with the keys identity
/// publishes (`identity.v1.Sessions/GetSigningKeys`, fetched over gRPC and cached), or with a
/// fixed key list from configuration (`AUTH_PUBLIC_KEYS`, for tests and air-gapped setups).
public enum ServiceAuthentication {
  /// Keys fetched from the identity service at `address`, cached and refetched when a token
  /// names an unknown key (see ``CachedVerificationKeys``).
  public static func identityKeys(address: ListenAddress) -> CachedVerificationKeys {
    let transport = HTTP2ClientTransport(host: address.host, port: address.port)
    let sessions = Identity_V1_Sessions.Client(wrapping: RPCClient(transport: transport))
    return CachedVerificationKeys {
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

  /// The verification keys named by configuration: `identityAddress` (HOST:PORT of identity)
  /// or `publicKeys` (`kid=base64url,…`), exactly one of them.
  public static func keys(identityAddress: String?, publicKeys: String?) throws -> any VerificationKeyProvider {
    switch (identityAddress?.isEmpty == false ? identityAddress : nil, publicKeys?.isEmpty == false ? publicKeys : nil) {
    case (let address?, nil):
      guard let parsed = ListenAddress(parsing: address) else {
        throw StartupError(message: "--identity-address must be HOST:PORT, got '\(address)'.")
      }
      return self.identityKeys(address: parsed)
    case (nil, let text?):
      do {
        return try StaticVerificationKeys(parsing: text)
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

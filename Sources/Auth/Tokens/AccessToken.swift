#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import RPCCore

/// Access tokens: compact JWS (RFC 7515) with `alg: EdDSA` (RFC 8037), a `kid` naming the
/// signing key, and ``AccessTokenClaims`` as payload.
public enum AccessToken {
  struct Header: Codable {
    var alg: String
    var typ: String?
    var kid: String?
  }

  /// The signed token `header.payload.signature`.
  public static func sign(_ claims: AccessTokenClaims, keyID: String, key: Ed25519SigningKey) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let header = try! encoder.encode(Header(alg: "EdDSA", typ: "JWT", kid: keyID))
    let payload = try! encoder.encode(claims)
    let signingInput = Base64URL.encode(Array(header)) + "." + Base64URL.encode(Array(payload))
    return signingInput + "." + Base64URL.encode(key.sign(Array(signingInput.utf8)))
  }

  /// The claims of `token` once its signature, algorithm, key and lifetime check out.
  ///
  /// - Parameters:
  ///   - now: the current Unix time in seconds.
  ///   - leeway: seconds of clock skew tolerated on `exp` and `iat`.
  /// - Throws: `UNAUTHENTICATED` with a message saying what was wrong (never the token itself),
  ///   or `UNAVAILABLE` when the keys cannot be fetched.
  public static func verify(
    _ token: String, keys: any VerificationKeyProvider, now: Int64, leeway: Int64 = 30
  ) async throws(RPCError) -> AccessTokenClaims {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
      let payloadBytes = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2])
    else { throw self.rejected("The access token is malformed.") }
    let decoder = JSONDecoder()
    guard let header = try? decoder.decode(Header.self, from: Data(headerBytes)) else {
      throw self.rejected("The access token header is malformed.")
    }
    guard header.alg == "EdDSA" else { throw self.rejected("The access token algorithm must be EdDSA.") }
    guard let keyID = header.kid, !keyID.isEmpty else { throw self.rejected("The access token names no key (kid).") }
    let publicKey: [UInt8]?
    do {
      publicKey = try await keys.publicKey(forKeyID: keyID)
    } catch let error as RPCError {
      throw error
    } catch {
      throw RPCError(code: .unavailable, message: "The token signing keys are unavailable.", cause: error)
    }
    guard let publicKey else { throw self.rejected("The access token is signed by an unknown key.") }
    let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
    guard Ed25519.verify(signature: signature, message: signingInput, publicKey: publicKey) else {
      throw self.rejected("The access token signature is invalid.")
    }
    guard let claims = try? decoder.decode(AccessTokenClaims.self, from: Data(payloadBytes)) else {
      throw self.rejected("The access token claims are malformed.")
    }
    guard claims.expiresAt + leeway > now else { throw self.rejected("The access token has expired.") }
    guard claims.issuedAt - leeway <= now else { throw self.rejected("The access token is not valid yet.") }
    guard !claims.tenantID.isEmpty, !claims.subject.isEmpty else {
      throw self.rejected("The access token names no tenant or subject.")
    }
    return claims
  }

  private static func rejected(_ message: String) -> RPCError {
    RPCError(code: .unauthenticated, message: message)
  }
}

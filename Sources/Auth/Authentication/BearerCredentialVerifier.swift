public import RPCCore

/// Turns the credential of an `authorization: Bearer …` header into a ``Caller``.
public protocol BearerCredentialVerifier: Sendable {
  /// The caller `bearer` authenticates.
  ///
  /// - Throws: `UNAUTHENTICATED` for a credential that is not valid (with a message saying why),
  ///   `UNAVAILABLE` when it cannot be checked right now.
  func verify(bearer: String) async throws(RPCError) -> Caller
}

/// Verifies access tokens (EdDSA JWTs) locally against published public keys.
public struct AccessTokenVerifier: BearerCredentialVerifier {
  public let keys: any VerificationKeyProvider
  /// Accepted clock skew in seconds.
  public let leeway: Int64
  /// When set, tokens from another issuer are refused.
  public let issuer: String?
  private let now: @Sendable () -> Int64

  public init(
    keys: any VerificationKeyProvider, issuer: String? = nil, leeway: Int64 = 30,
    now: @escaping @Sendable () -> Int64 = { UnixTime.seconds() }
  ) {
    self.keys = keys
    self.issuer = issuer
    self.leeway = leeway
    self.now = now
  }

  public func verify(bearer: String) async throws(RPCError) -> Caller {
    let claims = try await AccessToken.verify(bearer, keys: self.keys, now: self.now(), leeway: self.leeway)
    if let issuer, claims.issuer != issuer {
      throw RPCError(code: .unauthenticated, message: "The access token was issued by another issuer.")
    }
    return claims.caller
  }
}

/// The wall clock in Unix seconds (token lifetimes are wall-clock times by definition).
public enum UnixTime {
  public static func seconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec)
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

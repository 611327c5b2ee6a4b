public import RPCCore

/// Turns the credential of an `authorization: Bearer …` header into a ``Caller``.
public protocol BearerCredentialVerifier: Sendable {
  /// The caller `bearer` authenticates.
  ///
  /// - Throws: `UNAUTHENTICATED` for a credential that is not valid (with a message saying why),
  ///   `UNAVAILABLE` when it cannot be checked right now.
  func verify(bearer: String) async throws(RPCError) -> Caller

  /// The caller of a credential that verified before and has not expired, without checking
  /// anything else; `nil` when only ``verify(bearer:)`` can tell. Takes a slice of the header,
  /// so the common case copies nothing.
  func cachedCaller(bearer: Substring) -> Caller?
}

extension BearerCredentialVerifier {
  public func cachedCaller(bearer: Substring) -> Caller? { nil }
}

/// Verifies access tokens (EdDSA JWTs) locally against published public keys.
///
/// A token that verified once is remembered (by its exact text) until it expires, so a client
/// sending the same token on every call pays for one Ed25519 check, not one per call. A token
/// signed by a key withdrawn later stays accepted until its own expiry (at most its lifetime,
/// 15 minutes by default).
public struct AccessTokenVerifier: BearerCredentialVerifier {
  public let keys: any VerificationKeyProvider
  /// Accepted clock skew in seconds.
  public let leeway: Int64
  /// When set, tokens from another issuer are refused.
  public let issuer: String?
  private let now: @Sendable () -> Int64
  private let cache: VerifiedTokenCache?

  public init(
    keys: any VerificationKeyProvider, issuer: String? = nil, leeway: Int64 = 30, cacheCapacity: Int = 10_000,
    now: @escaping @Sendable () -> Int64 = { UnixTime.seconds() }
  ) {
    self.keys = keys
    self.issuer = issuer
    self.leeway = leeway
    self.now = now
    self.cache = cacheCapacity > 0 ? VerifiedTokenCache(capacity: cacheCapacity) : nil
  }

  public func cachedCaller(bearer: Substring) -> Caller? {
    guard let cached = self.cache?.claims(for: bearer), cached.expiresAt + self.leeway > self.now() else { return nil }
    return cached.caller
  }

  public func verify(bearer: String) async throws(RPCError) -> Caller {
    let now = self.now()
    if let cached = self.cache?.claims(for: bearer[...]), cached.expiresAt + self.leeway > now {
      return cached.caller
    }
    let claims = try await AccessToken.verify(bearer, keys: self.keys, now: now, leeway: self.leeway)
    if let issuer, claims.issuer != issuer {
      throw RPCError(code: .unauthenticated, message: "The access token was issued by another issuer.")
    }
    self.cache?.store(claims, for: bearer)
    return claims.caller
  }
}

/// Tokens that verified, by their text; emptied when full (a flood of distinct valid tokens is
/// bounded by the capacity, not by memory). Keyed by `Substring` so a lookup can use the token
/// where it lies in its header.
final class VerifiedTokenCache: Sendable {
  private let capacity: Int
  private let entries = Mutex<[Key: AccessTokenClaims]>([:])

  init(capacity: Int) {
    self.capacity = capacity
  }

  func claims(for token: Substring) -> AccessTokenClaims? {
    self.entries.withLock { $0[Key(token)] }
  }

  func store(_ claims: AccessTokenClaims, for token: String) {
    self.entries.withLock { entries in
      if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
      entries[Key(token[...])] = claims
    }
  }

  /// A token as a dictionary key: equal only to the same bytes (not merely to canonically
  /// equivalent text, as `Substring` keys are), hashed from its length and last 16 bytes. For
  /// a signed token those are signature bytes, which differ between any two tokens, so hashing
  /// the ~300 bytes before them buys nothing; and only verified tokens are stored, so nobody can
  /// fill a bucket with keys chosen to collide.
  struct Key: Hashable {
    let token: Substring

    init(_ token: Substring) {
      self.token = token
    }

    func hash(into hasher: inout Hasher) {
      let utf8 = self.token.utf8
      var tail: (UInt64, UInt64) = (0, 0)
      withUnsafeMutableBytes(of: &tail) { tail in
        for (index, byte) in utf8.suffix(tail.count).enumerated() { tail[index] = byte }
      }
      hasher.combine(utf8.count)
      hasher.combine(tail.0)
      hasher.combine(tail.1)
    }

    static func == (lhs: Key, rhs: Key) -> Bool {
      let left = lhs.token.utf8
      let right = rhs.token.utf8
      guard left.count == right.count else { return false }
      let compared = left.withContiguousStorageIfAvailable { left in
        right.withContiguousStorageIfAvailable { right in
          left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
        }
      }
      return (compared ?? nil) ?? left.elementsEqual(right)
    }
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

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

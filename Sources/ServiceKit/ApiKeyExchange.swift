import Auth
public import IdentityV1Protos
public import RPCCore
import Synchronization

/// Lets API keys (`Bearer gsk_…`) work wherever access tokens do: a key is exchanged at
/// identity for a short-lived access token (reused for at most a minute, see ``ExchangeCache``)
/// that replaces it in the call's metadata, so the token check after this interceptor — and, at
/// the gateway, the services behind it — see an ordinary access token.
public struct ApiKeyExchangeInterceptor: ServerInterceptor {
  let sessions: Identity_V1_ApiKeys.Client
  let cache = ExchangeCache()

  /// Exchanges keys through `apiKeys`, a client of identity (see ``IdentityClient``).
  public init(apiKeys: Identity_V1_ApiKeys.Client) {
    self.sessions = apiKeys
  }

  public func intercept<Result: Sendable>(
    metadata: Metadata, context: ServerContext, next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result {
    guard let header = metadata.firstString("authorization"), header.utf8.count > 7,
      header.prefix(7).lowercased() == "bearer ", header.dropFirst(7).hasPrefix("gsk_")
    else { return try await next(metadata, context) }
    let key = String(header.dropFirst(7))
    let fingerprint = Digest.hex(Digest.sha256(key))
    let token: String
    if let cached = self.cache.token(for: fingerprint) {
      token = cached
    } else {
      var request = Identity_V1_ExchangeApiKeyRequest()
      request.apiKey = key
      var options = CallOptions.defaults
      options.timeout = .seconds(3)
      let response = try await self.sessions.exchangeApiKey(request, options: options)
      token = response.accessToken
      self.cache.store(token, for: fingerprint, expiresAtMilliseconds: response.accessTokenExpiresAtMs)
    }
    var replaced = Metadata()
    for element in metadata where element.key != "authorization" { replaced.add(element.key, element.value) }
    replaced.add("authorization", "Bearer " + token)
    return try await next(replaced, context)
  }
}

/// Exchanged tokens by key fingerprint, each served for at most ``maximumAgeMilliseconds``
/// (and never later than 60 s before it expires); all dropped at once when more than 10 000
/// keys are cached.
///
/// The age bound is what limits how long a key keeps working here after identity stops
/// accepting it (revoked, expired, its creator deactivated or demoted): the next call after that
/// exchanges again and is refused. Tokens already handed on to the services behind a gateway
/// stay valid until they expire, like any access token.
final class ExchangeCache: Sendable {
  /// How long one exchange is reused.
  static let maximumAgeMilliseconds: Int64 = 60_000

  private let entries = Mutex<[String: (token: String, until: Int64)]>([:])

  static func nowMilliseconds() -> Int64 { UnixTime.seconds() * 1000 }

  func token(for fingerprint: String, nowMilliseconds now: Int64 = ExchangeCache.nowMilliseconds()) -> String? {
    self.entries.withLock { entries in
      guard let entry = entries[fingerprint], entry.until > now else { return nil }
      return entry.token
    }
  }

  func store(
    _ token: String, for fingerprint: String, expiresAtMilliseconds: Int64,
    nowMilliseconds now: Int64 = ExchangeCache.nowMilliseconds()
  ) {
    let until = min(expiresAtMilliseconds - 60_000, now + Self.maximumAgeMilliseconds)
    self.entries.withLock { entries in
      if entries.count > 10_000 { entries.removeAll() }
      entries[fingerprint] = (token, until)
    }
  }
}

public import RPCCore

/// The address a call came from, for throttles and rate limits keyed by client.
public enum ClientAddress {
  /// The metadata key a proxy adds the address of the client it serves to.
  public static let forwardedForKey = "x-forwarded-for"

  /// The IP address in a transport peer description (`ipv4:1.2.3.4:5678`, `[::1]:5678`, …),
  /// or the description itself when it names none.
  public static func of(peer: String) -> String {
    // Scanned in place (no array of parts): the gateway asks once per forwarded call.
    let utf8 = peer.utf8
    if let open = utf8.firstIndex(of: UInt8(ascii: "[")), let close = utf8.lastIndex(of: UInt8(ascii: "]")),
      open < close
    {
      return String(peer[utf8.index(after: open)..<close])
    }
    guard let first = utf8.firstIndex(of: UInt8(ascii: ":")), let last = utf8.lastIndex(of: UInt8(ascii: ":")),
      first < last
    else { return peer }
    return String(peer[utf8.index(after: first)..<last])
  }

  /// The client's address: the peer's, unless the peer is one of `trustedProxies`, in which
  /// case the last `x-forwarded-for` entry, the address that proxy saw (earlier entries were
  /// written by whoever called it, and prove nothing).
  public static func of(peer: String, metadata: Metadata, trustedProxies: Set<String>) -> String {
    let direct = Self.of(peer: peer)
    guard trustedProxies.contains(direct), let forwarded = metadata.firstString(Self.forwardedForKey),
      let last = forwarded.split(separator: ",").last?.drop(while: { $0 == " " }), !last.isEmpty
    else { return direct }
    return String(last.reversed().drop(while: { $0 == " " }).reversed())
  }

  /// `x-forwarded-for` as a proxy passes it on: what arrived, with `client` appended.
  public static func appending(_ client: String, to forwarded: String?) -> String {
    guard let forwarded, !forwarded.isEmpty else { return client }
    return forwarded + ", " + client
  }
}

/// Sets ``ServerContext/clientAddress`` for every call: the peer's address, or, for a call that
/// came through one of `trustedProxies` (the gateway), the address that proxy saw.
public struct ClientAddressInterceptor: ServerInterceptor {
  public let trustedProxies: Set<String>

  public init(trustedProxies: Set<String>) {
    self.trustedProxies = trustedProxies
  }

  /// Trusted proxy addresses from a comma-separated list (an environment variable's value).
  public init(parsing list: String?) {
    self.init(
      trustedProxies: Set(
        (list ?? "").split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty }))
  }

  public func intercept<Result: Sendable>(
    metadata: Metadata, context: ServerContext, next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result {
    var context = context
    context.clientAddress = ClientAddress.of(
      peer: context.remotePeer, metadata: metadata, trustedProxies: self.trustedProxies)
    return try await next(metadata, context)
  }
}

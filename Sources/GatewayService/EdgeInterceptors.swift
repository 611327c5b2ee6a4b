import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
public import RPCCore
import ServiceKit
import Synchronization

/// The outermost interceptor: one structured access-log line per call (method, status,
/// duration, tenant, bytes in and out, replica, attempts, request id, peer).
public struct AccessLogInterceptor: ServerInterceptor {
  let logger: Logger

  public init(logger: Logger) {
    self.logger = logger
  }

  public func intercept<Result: Sendable>(
    metadata: Metadata, context: ServerContext, next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result {
    // With access logging off (LOG_LEVEL above info) a call costs nothing here.
    guard self.logger.logLevel <= .info else { return try await next(metadata, context) }
    let record = CallRecord()
    let start = ContinuousClock.now
    var status = "OK"
    defer {
      Self.log(
        self.logger, path: context.descriptor.path, status: status, elapsed: ContinuousClock.now - start,
        fields: record.fields.withLock { $0 }, peer: context.remotePeer)
    }
    do {
      return try await CallRecord.$current.withValue(record) { try await next(metadata, context) }
    } catch {
      status = "\(RPCError(mapping: error).code)"
      throw error
    }
  }

  /// Writes one access line.
  static func log(
    _ logger: Logger, path: String, status: String, elapsed: Duration, fields: CallRecord.Fields, peer: String
  ) {
    logger.info(
      "access",
      metadata: [
        "rpc.method": .string(path), "rpc.status": .string(status),
        "duration_ms": .string(Self.milliseconds(elapsed)), "tenant": .string(fields.tenant),
        "bytes_in": .string(String(fields.bytesIn)), "bytes_out": .string(String(fields.bytesOut)),
        "replica": .string(fields.replica), "attempts": .string(String(fields.attempts)),
        "request_id": .string(fields.requestID), "peer": .string(peer),
      ])
  }

  /// `elapsed` in milliseconds with three decimals ("0.552", "12.000"), rounded to the
  /// microsecond.
  static func milliseconds(_ elapsed: Duration) -> String {
    let (seconds, attoseconds) = elapsed.components
    let microseconds = max(0, seconds * 1_000_000 + (attoseconds + 500_000_000_000) / 1_000_000_000_000)
    let fraction = String(microseconds % 1000)
    return String(microseconds / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
  }
}

/// Gives every call an `x-request-id` (kept when the client sent one) and a W3C `traceparent`
/// whose parent id is this hop (the trace id is kept when the client sent a valid one).
public struct RequestIdentityInterceptor: ServerInterceptor {
  public init() {}

  public func intercept<Result: Sendable>(
    metadata: Metadata, context: ServerContext, next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result {
    let (forwarded, id) = Self.stamp(metadata, client: ClientAddress.of(peer: context.remotePeer))
    CallRecord.current?.update { $0.requestID = id }
    var context = context
    context.requestID = id
    return try await next(forwarded, context)
  }

  /// `metadata` with this hop's `x-request-id` and `traceparent`, `client` appended to
  /// `x-forwarded-for`, and the request id; keys `dropping` accepts are left out.
  static func stamp(
    _ metadata: Metadata, client: String, dropping: (String) -> Bool = { _ in false }
  ) -> (forwarded: Metadata, requestID: String) {
    var forwarded = Metadata(reservingCapacity: metadata.count + 3)
    var requestID: String?
    var forwardedFor: String?
    var traceID: Substring?
    var flags: Substring = "01"
    for element in metadata {
      switch element.key {
      case "x-request-id":
        if requestID == nil, case .string(let value) = element.value, !value.isEmpty, value.utf8.count <= 128 {
          requestID = value
        }
      case "traceparent":
        if case .string(let value) = element.value, let parsed = Self.parseTraceparent(value) {
          traceID = parsed.traceID
          flags = parsed.flags
        }
      case ClientAddress.forwardedForKey:
        if case .string(let value) = element.value { forwardedFor = value }
      default:
        if !dropping(element.key) { forwarded.add(element.key, element.value) }
      }
    }
    let id = requestID ?? Self.hex(byteCount: 16)
    forwarded.add("x-request-id", id)
    forwarded.add("traceparent", Self.traceparent(traceID: traceID, flags: flags))
    forwarded.add(ClientAddress.forwardedForKey, ClientAddress.appending(client, to: forwardedFor))
    return (forwarded, id)
  }

  /// `00-<trace id>-<new parent id>-<flags>`, with a new trace id when `traceID` is `nil`, built
  /// in one allocation.
  static func traceparent(traceID: Substring?, flags: Substring) -> String {
    String(unsafeUninitializedCapacity: 55) { buffer in
      func put(_ index: inout Int, _ bytes: some Sequence<UInt8>) {
        for byte in bytes {
          buffer[index] = byte
          index += 1
        }
      }
      var index = 0
      put(&index, "00-".utf8)
      if let traceID { put(&index, traceID.utf8) } else { Self.writeHex(into: buffer, at: &index, byteCount: 16) }
      put(&index, CollectionOfOne(UInt8(ascii: "-")))
      Self.writeHex(into: buffer, at: &index, byteCount: 8)
      put(&index, CollectionOfOne(UInt8(ascii: "-")))
      put(&index, flags.utf8)
      return index
    }
  }

  /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero.
  static func parseTraceparent(_ value: String) -> (traceID: Substring, flags: Substring)? {
    let utf8 = value.utf8
    // Version 00 is exactly 55 characters; later versions may append fields after the flags.
    guard utf8.count >= 55 else { return nil }
    let parts = value.split(separator: "-", maxSplits: 4, omittingEmptySubsequences: false)
    guard parts.count >= 4, parts[0].utf8.count == 2, parts[0] != "ff", parts[1].utf8.count == 32,
      parts[2].utf8.count == 16, parts[3].utf8.count == 2,
      parts.prefix(4).allSatisfy({ $0.utf8.allSatisfy(Self.isLowerHex) }),
      parts[1].utf8.contains(where: { $0 != UInt8(ascii: "0") }),
      parts[2].utf8.contains(where: { $0 != UInt8(ascii: "0") })
    else { return nil }
    if parts[0] == "00" && parts.count > 4 { return nil }
    return (parts[1], parts[3])
  }

  private static func isLowerHex(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
  }

  /// `byteCount` random bytes as lower-case hex, from ``FastRandom`` (ids need to be unique and
  /// unpredictable enough to not collide, not secret; a system call per id would cost more than
  /// the rest of the interceptor).
  static func hex(byteCount: Int) -> String {
    String(unsafeUninitializedCapacity: byteCount * 2) { buffer in
      var index = 0
      Self.writeHex(into: buffer, at: &index, byteCount: byteCount)
      return index
    }
  }

  private static func writeHex(into buffer: UnsafeMutableBufferPointer<UInt8>, at index: inout Int, byteCount: Int) {
    var remaining = byteCount
    while remaining > 0 {
      var word = FastRandom.next()
      for _ in 0..<min(8, remaining) {
        let byte = UInt8(truncatingIfNeeded: word)
        buffer[index] = HexDigits.lowercase(byte >> 4)
        buffer[index + 1] = HexDigits.lowercase(byte & 0x0F)
        index += 2
        word >>= 8
      }
      remaining -= 8
    }
  }
}

/// SplitMix64 over a shared atomic state seeded once from the system's secure generator:
/// lock-free, no system call per value.
enum FastRandom {
  private static let state = Atomic<UInt64>(
    SecureRandom.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })

  static func next() -> UInt64 {
    var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Token buckets per tenant (the authenticated caller's) and per client address; a call over
/// the limit ends with RESOURCE_EXHAUSTED and says when to come back (`retry-after-ms` and
/// `grpc-retry-pushback-ms`).
public struct RateLimitInterceptor: ServerInterceptor {
  let tenantLimiter: RateLimiter?
  let clientLimiter: RateLimiter?

  public init(tenant: RateLimiter?, client: RateLimiter?) {
    self.tenantLimiter = tenant
    self.clientLimiter = client
  }

  public func intercept<Result: Sendable>(
    metadata: Metadata, context: ServerContext, next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result {
    let tenant = context.caller?.tenantID
    if let tenant { CallRecord.current?.update { $0.tenant = tenant } }
    if let error = self.check(tenant: tenant, remotePeer: context.remotePeer) { throw error }
    return try await next(metadata, context)
  }

  /// Whether the limits are there at all.
  var isLimiting: Bool { self.tenantLimiter != nil || self.clientLimiter != nil }

  /// Takes a token from the client address's bucket and the tenant's; the error when one is
  /// empty.
  func check(tenant: String?, remotePeer: String) -> RPCError? {
    if let limiter = self.clientLimiter, let wait = limiter.take(ClientAddress.of(peer: remotePeer)) {
      return Self.exhausted("this client address", wait)
    }
    if let limiter = self.tenantLimiter, let tenant, let wait = limiter.take(tenant) {
      return Self.exhausted("this tenant", wait)
    }
    return nil
  }

  static func exhausted(_ what: String, _ wait: Duration) -> RPCError {
    let milliseconds = max(1, wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
    var metadata = Metadata()
    metadata.add("retry-after-ms", String(milliseconds))
    metadata.add(Metadata.retryPushbackKey, String(milliseconds))
    return RPCError(
      code: .resourceExhausted, message: "Rate limit of \(what) reached; retry in \(milliseconds) ms.", metadata: metadata)
  }
}

/// Request or response metadata: an ordered multimap of lower-case keys to values.
///
/// Keys are case-insensitive (stored lower-cased, as HTTP/2 requires). Keys ending in `-bin`
/// hold binary values, which travel base64-encoded; all other keys hold ASCII strings. Keys
/// starting with `grpc-` are reserved for the protocol and are not delivered to handlers, except
/// ``retryPushbackKey``, which a response carries for the caller's retry logic, and
/// ``statusDetailsKey``, a failure's rich error details.
public struct Metadata: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral,
  CustomStringConvertible
{
  /// A metadata value: text, or bytes for `-bin` keys.
  public enum Value: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case binary([UInt8])

    public var description: String {
      switch self {
      case .string(let value): value
      case .binary(let bytes): Base64.encode(bytes)
      }
    }
  }

  /// One key and value.
  public struct Element: Sendable, Hashable {
    public var key: String
    public var value: Value
  }

  private var elements: [Element]

  public init() {
    self.elements = []
  }

  public init(dictionaryLiteral elements: (String, Value)...) {
    self.elements = []
    self.elements.reserveCapacity(elements.count)
    for (key, value) in elements {
      self.add(key, value)
    }
  }

  /// Empty metadata with room for `capacity` entries.
  public init(reservingCapacity capacity: Int) {
    self.elements = []
    self.elements.reserveCapacity(capacity)
  }

  public var count: Int { self.elements.count }
  public var isEmpty: Bool { self.elements.isEmpty }

  /// Makes room for `capacity` entries in all.
  public mutating func reserveCapacity(_ capacity: Int) {
    self.elements.reserveCapacity(capacity)
  }

  /// Appends a text value for `key`.
  public mutating func add(_ key: String, _ value: String) {
    self.elements.append(Element(key: Self.lowercased(key), value: .string(value)))
  }

  /// Appends a binary value; `key` should end in `-bin`.
  public mutating func add(_ key: String, _ value: [UInt8]) {
    self.elements.append(Element(key: Self.lowercased(key), value: .binary(value)))
  }

  /// Appends a value for `key`.
  public mutating func add(_ key: String, _ value: Value) {
    self.elements.append(Element(key: Self.lowercased(key), value: value))
  }

  /// `key` in lower case; keys already lower-case (what HTTP/2 delivers) are kept as they are.
  private static func lowercased(_ key: String) -> String {
    var key = key
    let needsLowering = key.withUTF8 { bytes in
      bytes.contains { ($0 &- UInt8(ascii: "A")) < 26 || $0 >= 0x80 }
    }
    return needsLowering ? key.lowercased() : key
  }

  /// Appends every entry of `other`.
  public mutating func add(contentsOf other: Metadata) {
    self.elements.append(contentsOf: other.elements)
  }

  /// Replaces all values for `key` with one text value.
  public mutating func replaceOrAdd(_ key: String, _ value: String) {
    self.removeAll(key)
    self.add(key, value)
  }

  /// Removes all values for `key`.
  public mutating func removeAll(_ key: String) {
    let key = Self.lowercased(key)
    self.elements.removeAll { $0.key == key }
  }

  /// All values for `key`, in order.
  public subscript(key: String) -> [Value] {
    let key = Self.lowercased(key)
    return self.elements.compactMap { $0.key == key ? $0.value : nil }
  }

  /// The first text value for `key`.
  public func firstString(_ key: String) -> String? {
    let key = Self.lowercased(key)
    for element in self.elements where element.key == key {
      if case .string(let value) = element.value { return value }
    }
    return nil
  }

  /// The first binary value for `key`.
  public func firstBinary(_ key: String) -> [UInt8]? {
    let key = Self.lowercased(key)
    for element in self.elements where element.key == key {
      if case .binary(let value) = element.value { return value }
    }
    return nil
  }

  public func makeIterator() -> IndexingIterator<[Element]> {
    self.elements.makeIterator()
  }

  public var description: String {
    "[" + self.elements.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
  }
}

extension Metadata {
  /// `grpc-retry-pushback-ms`: in a failed call's trailers, how many milliseconds the caller
  /// should wait before retrying (a negative or malformed value: do not retry). gRPC's retry
  /// design (A6) defines it; it is sent and received as metadata.
  public static let retryPushbackKey = "grpc-retry-pushback-ms"

  /// `grpc-status-details-bin`: in a failed call's trailers, a serialized `google.rpc.Status`
  /// with the error's details. Carried as metadata both ways, untouched, so that a handler can
  /// send it, a caller can read it, and the gateway passes it on.
  public static let statusDetailsKey = "grpc-status-details-bin"

  /// Whether `key` names a field an HTTP/2 message must not carry as metadata: the
  /// connection-specific fields of RFC 9113 8.2.2 (`te` too, which the transport sets itself to
  /// `trailers`), and `content-type` and `user-agent`, which the transport writes once itself.
  /// Transports drop them from outgoing metadata; proxies drop them from what they forward.
  public static func isConnectionSpecific(_ key: String) -> Bool {
    switch key {
    case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host",
      "content-type", "user-agent":
      true
    default:
      false
    }
  }

  /// Whether `key` is one of the `grpc-` keys carried as metadata (``retryPushbackKey``,
  /// ``statusDetailsKey``); every other `grpc-` key belongs to the protocol.
  public static func isCarriedGRPCKey(_ key: String) -> Bool {
    key == Self.retryPushbackKey || key == Self.statusDetailsKey
  }

  /// Whether `key` is a syntactically valid metadata key: non-empty, only `0-9 a-z _ - .`.
  public static func isValidKey(_ key: String) -> Bool {
    var key = key
    return key.withUTF8 { bytes in
      guard !bytes.isEmpty else { return false }
      for byte in bytes {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
          UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
          continue
        default:
          return false
        }
      }
      return true
    }
  }

  /// Whether `value` may be sent as a text (non `-bin`) value: printable ASCII only.
  public static func isValidTextValue(_ value: String) -> Bool {
    var value = value
    return value.withUTF8 { bytes in
      // Branch-free over the contiguous bytes (tokens are hundreds of bytes long):
      // 0x20...0x7E is exactly the range where `byte - 0x20` (wrapping) is below 0x5F.
      var outside: UInt8 = 0
      for byte in bytes { outside |= (byte &- 0x20) >= 0x5F ? 1 : 0 }
      return outside == 0
    }
  }
}

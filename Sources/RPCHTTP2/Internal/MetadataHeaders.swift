#if canImport(Glibc)
internal import Glibc
#endif
internal import RPCCore

extension HeaderBlock {
  /// Whether `key` names metadata whose value differs on every call, sent without HPACK
  /// indexing (compared, not hashed: this runs for every key of every call).
  static func isUniquePerCall(_ key: String) -> Bool {
    key == "x-request-id" || key == "traceparent"
  }

  /// Adds custom metadata as header fields: text values as-is, `-bin` values base64-encoded.
  /// Invalid keys or values, reserved `grpc-` keys (all but `Metadata.isCarriedGRPCKey`) and
  /// connection-specific fields RFC 9113 8.2.2 forbids in HTTP/2 are left out.
  mutating func add(metadata: Metadata) {
    for element in metadata {
      guard Metadata.isValidKey(element.key), !Metadata.isConnectionSpecific(element.key),
        !element.key.hasPrefix("grpc-") || Metadata.isCarriedGRPCKey(element.key)
      else { continue }
      switch element.value {
      case .string(let value):
        guard !element.key.hasSuffix("-bin"), Metadata.isValidTextValue(value) else { continue }
        self.add(element.key, value, indexed: !Self.isUniquePerCall(element.key))
      case .binary(let bytes):
        guard element.key.hasSuffix("-bin") else { continue }
        self.add(element.key, Base64.encode(bytes))
      }
    }
  }
}

extension Metadata {
  /// Adds a received custom header: `-bin` values are base64-decoded (several may be joined
  /// with commas; undecodable ones are dropped), others kept as text.
  mutating func addReceivedHeader(name: String, value: String) {
    if name.hasSuffix("-bin") {
      for part in value.split(separator: ",") {
        if let bytes = Base64.decode(part.trimmingASCIISpaces()) { self.add(name, bytes) }
      }
    } else {
      self.add(name, value)
    }
  }
}

/// A few Strings recently made from received bytes, handed out again when the same bytes come
/// back (compared with `memcmp`), so repeated header fields cost no allocation.
struct RecentStrings {
  private var strings: [String] = []
  private var next = 0
  private static let capacity = 8
  /// Longer values are not kept (they rarely repeat, and a connection keeps at most
  /// `capacity` × `maxLength` = 16 KiB here).
  private static let maxLength = 2048

  mutating func string(for bytes: UnsafeRawBufferPointer) -> String {
    // Strings of up to 15 UTF-8 bytes are stored inline: making one allocates nothing.
    guard bytes.count > 15, bytes.count <= Self.maxLength else { return String(decoding: bytes, as: UTF8.self) }
    for index in self.strings.indices where utf8Equals(self.strings[index], bytes) {
      return self.strings[index]
    }
    let string = String(decoding: bytes, as: UTF8.self)
    if self.strings.count < Self.capacity {
      self.strings.append(string)
    } else {
      self.strings[self.next] = string
      self.next = (self.next + 1) % Self.capacity
    }
    return string
  }
}

/// Whether `text`'s UTF-8 is exactly `bytes` (one `memcmp` over contiguous storage).
func utf8Equals(_ text: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
  var text = text
  return text.withUTF8 { utf8 in
    utf8.count == bytes.count && (bytes.isEmpty || memcmp(utf8.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
  }
}

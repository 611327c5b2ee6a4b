/// Percent-encoding of `grpc-message`, as PROTOCOL-HTTP2 specifies.
///
/// The message is UTF-8; every byte outside printable ASCII (0x20...0x7E) and `%` itself is sent
/// as `%XX`. Decoding is lenient: an invalid escape is kept as-is.
public enum StatusMessageCoding {
  private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

  /// Encodes `message` for the `grpc-message` header.
  public static func encode(_ message: String) -> String {
    let utf8 = message.utf8
    if utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != UInt8(ascii: "%") }) {
      return message
    }
    var out = [UInt8]()
    out.reserveCapacity(utf8.count * 3)
    for byte in utf8 {
      if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
        out.append(byte)
      } else {
        out.append(UInt8(ascii: "%"))
        out.append(self.hexDigits[Int(byte >> 4)])
        out.append(self.hexDigits[Int(byte & 0x0F)])
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes a received `grpc-message` value.
  public static func decode(_ value: String) -> String {
    guard value.utf8.contains(UInt8(ascii: "%")) else { return value }
    let bytes = Array(value.utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
      if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
        let high = HexDigits.value(bytes[index + 1]), let low = HexDigits.value(bytes[index + 2])
      {
        out.append(high << 4 | low)
        index += 3
      } else {
        out.append(bytes[index])
        index += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

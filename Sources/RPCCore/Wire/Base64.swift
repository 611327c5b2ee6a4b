/// Base64 as used for `-bin` metadata values.
///
/// Encoding emits unpadded standard base64 (the gRPC wire form); decoding accepts padded and
/// unpadded input, as PROTOCOL-HTTP2 requires of receivers.
public enum Base64 {
  private static let alphabet: [UInt8] = Array(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  private static let reverse: [UInt8] = {
    var table = [UInt8](repeating: 0xFF, count: 256)
    for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
    return table
  }()

  /// Encodes `bytes` without padding.
  public static func encode(_ bytes: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index + 3 <= bytes.count {
      let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
      out.append(self.alphabet[Int(value >> 18 & 63)])
      out.append(self.alphabet[Int(value >> 12 & 63)])
      out.append(self.alphabet[Int(value >> 6 & 63)])
      out.append(self.alphabet[Int(value & 63)])
      index += 3
    }
    let rest = bytes.count - index
    if rest == 1 {
      let value = UInt32(bytes[index]) << 16
      out.append(self.alphabet[Int(value >> 18 & 63)])
      out.append(self.alphabet[Int(value >> 12 & 63)])
    } else if rest == 2 {
      let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
      out.append(self.alphabet[Int(value >> 18 & 63)])
      out.append(self.alphabet[Int(value >> 12 & 63)])
      out.append(self.alphabet[Int(value >> 6 & 63)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes padded or unpadded base64; `nil` when `text` is not base64.
  public static func decode(_ text: some StringProtocol) -> [UInt8]? {
    var out = [UInt8]()
    out.reserveCapacity(text.utf8.count * 3 / 4)
    var accumulator: UInt32 = 0
    var bits = 0
    var padding = 0
    for byte in text.utf8 {
      if byte == UInt8(ascii: "=") {
        padding += 1
        continue
      }
      guard padding == 0 else { return nil }
      let value = self.reverse[Int(byte)]
      guard value != 0xFF else { return nil }
      accumulator = accumulator << 6 | UInt32(value)
      bits += 6
      if bits >= 8 {
        bits -= 8
        out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
      }
    }
    guard padding <= 2, bits < 6 else { return nil }
    return out
  }
}

/// A small JSON writer with deterministic output (keys in the order given), for log lines,
/// audit rows and event payloads, without Foundation.
public enum JSONText {
  /// A JSON value.
  public enum Value: Sendable, Hashable {
    case string(String)
    case bool(Bool)
    case int(Int64)
    /// A number written as given, such as a decimal amount "12.50".
    case number(String)
    case null
  }

  /// `{"key":value,...}` in the order of `fields`.
  public static func object(_ fields: [(String, Value)]) -> String {
    var bytes: [UInt8] = [UInt8(ascii: "{")]
    for (index, (key, value)) in fields.enumerated() {
      if index > 0 { bytes.append(UInt8(ascii: ",")) }
      self.appendQuoted(key, to: &bytes)
      bytes.append(UInt8(ascii: ":"))
      switch value {
      case .string(let text): self.appendQuoted(text, to: &bytes)
      case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
      case .int(let number): bytes.append(contentsOf: String(number).utf8)
      case .number(let text): bytes.append(contentsOf: text.utf8)
      case .null: bytes.append(contentsOf: "null".utf8)
      }
    }
    bytes.append(UInt8(ascii: "}"))
    return String(decoding: bytes, as: UTF8.self)
  }

  /// `text` as a JSON string literal.
  public static func quote(_ text: String) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count + 2)
    self.appendQuoted(text, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Appends `text` as a JSON string literal: `"` and `\` escaped, control characters as
  /// `\n`, `\r`, `\t` or `\u00xx`, everything else (UTF-8 included) as it is. Runs that need no
  /// escape are copied at once.
  public static func appendQuoted(_ text: String, to bytes: inout [UInt8]) {
    bytes.append(UInt8(ascii: "\""))
    var text = text
    text.withUTF8 { utf8 in
      var runStart = 0
      for index in 0..<utf8.count {
        let byte = utf8[index]
        guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
        case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
        default:
          bytes.append(UInt8(ascii: "u"))
          bytes.append(UInt8(ascii: "0"))
          bytes.append(UInt8(ascii: "0"))
          bytes.append(Self.hexDigit(byte >> 4))
          bytes.append(Self.hexDigit(byte & 0xF))
        }
        runStart = index + 1
      }
      bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
    }
    bytes.append(UInt8(ascii: "\""))
  }

  private static func hexDigit(_ value: UInt8) -> UInt8 {
    value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
  }
}

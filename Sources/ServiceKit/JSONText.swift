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
    var out = "{"
    for (index, (key, value)) in fields.enumerated() {
      if index > 0 { out += "," }
      out += self.quote(key) + ":"
      switch value {
      case .string(let text): out += self.quote(text)
      case .bool(let flag): out += flag ? "true" : "false"
      case .int(let number): out += String(number)
      case .number(let text): out += text
      case .null: out += "null"
      }
    }
    return out + "}"
  }

  /// `text` as a JSON string literal.
  public static func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }
}

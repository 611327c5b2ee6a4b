/// Accumulates Swift source with two-space indentation.
struct CodeWriter {
  private(set) var text = ""
  private var depth = 0

  /// Appends one line at the current indentation (an empty line stays empty).
  mutating func line(_ line: String = "") {
    if line.isEmpty {
      self.text += "\n"
    } else {
      self.text += String(repeating: "  ", count: self.depth) + line + "\n"
    }
  }

  /// Appends `header {`, the lines `body` writes one level deeper, and `}` plus `trailer`.
  mutating func block(
    _ header: String, trailer: String = "", _ body: (inout CodeWriter) throws -> Void
  ) rethrows {
    self.line(header + " {")
    self.depth += 1
    try body(&self)
    self.depth -= 1
    self.line("}" + trailer)
  }

  /// Appends `header {`, the lines `body` writes at the same depth (Swift's `case` style) and `}`.
  mutating func switchBlock(_ header: String, _ body: (inout CodeWriter) -> Void) {
    self.line(header + " {")
    body(&self)
    self.line("}")
  }

  /// Appends a `///` comment made from a proto comment, or `fallback` when it is empty.
  mutating func doc(_ comment: String, fallback: String = "") {
    var lines = comment.split(separator: "\n", omittingEmptySubsequences: false).map { line in
      var text = Substring(line)
      if text.first == " " { text = text.dropFirst() }
      while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
      return String(text)
    }
    while lines.last?.isEmpty == true { lines.removeLast() }
    while lines.first?.isEmpty == true { lines.removeFirst() }
    if lines.isEmpty {
      if !fallback.isEmpty { self.line("/// " + fallback) }
      return
    }
    for line in lines {
      self.line(line.isEmpty ? "///" : "/// " + line)
    }
  }
}

extension String {
  /// The string as a Swift string literal.
  var swiftLiteral: String {
    var result = "\""
    for scalar in self.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      default:
        if scalar.value < 0x20 {
          result += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
          result.unicodeScalars.append(scalar)
        }
      }
    }
    return result + "\""
  }
}

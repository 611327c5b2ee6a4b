#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import RPCCore

/// Parses an id sent by a client: `INVALID_ARGUMENT` naming the field when it is not a UUID.
public func parseID(_ text: String, what: String) throws(RPCError) -> UUID {
  guard let id = UUID(canonicalText: text) else {
    throw RPCError(
      code: .invalidArgument,
      message: "\(what) must be a UUID, got \(text.isEmpty ? "nothing" : "\"\(text.prefix(64))\"").")
  }
  return id
}

/// `text` when it is not blank and has at most `maxCharacters` characters as PostgreSQL's
/// `length()` counts them (Unicode scalars, not Swift's grapheme clusters: "👍🏽" is two);
/// `INVALID_ARGUMENT` naming the field otherwise, rather than the `FAILED_PRECONDITION` a CHECK
/// constraint would give. Surrounding spaces are removed first unless `keepingSpaces`.
public func requiredText(
  _ text: String, _ what: String, maxCharacters: Int, keepingSpaces: Bool = false
) throws(RPCError) -> String {
  let trimmed = text.trimmingWhitespace()
  guard !trimmed.isEmpty else { throw RPCError(code: .invalidArgument, message: "\(what) is required.") }
  let kept = keepingSpaces ? text : trimmed
  let count = kept.unicodeScalars.count
  guard count <= maxCharacters else {
    throw RPCError(
      code: .invalidArgument, message: "\(what) has \(count) characters; at most \(maxCharacters) are allowed.")
  }
  return kept
}

extension StringProtocol {
  /// The text without leading and trailing tabs, space separators (Unicode category Zs) and
  /// zero-width spaces, compared by Unicode scalar: what Foundation's
  /// `trimmingCharacters(in: .whitespaces)` removes.
  public func trimmingWhitespace() -> String {
    let scalars = self.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.isTrimmedWhitespace }),
      let last = scalars.lastIndex(where: { !$0.isTrimmedWhitespace })
    else { return "" }
    return String(String.UnicodeScalarView(scalars[first...last]))
  }
}

extension Unicode.Scalar {
  /// A member of Foundation's `CharacterSet.whitespaces`: tab, the space separators (Zs) and
  /// U+200B ZERO WIDTH SPACE.
  fileprivate var isTrimmedWhitespace: Bool {
    switch self.value {
    case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: true
    default: false
    }
  }
}

extension Caller {
  /// The caller's tenant as a UUID (`UNAUTHENTICATED` for a token naming anything else).
  public var tenantUUID: UUID {
    get throws(RPCError) {
      guard let id = UUID(canonicalText: self.tenantID) else {
        throw RPCError(code: .unauthenticated, message: "The access token names no valid tenant.")
      }
      return id
    }
  }
}

extension Date {
  /// Unix time in milliseconds, as the protos carry timestamps.
  public var unixMilliseconds: Int64 { Int64((self.timeIntervalSince1970 * 1000).rounded()) }
}

extension UUID {
  /// The canonical lower-case text form used on the wire (`8-4-4-4-12` hex digits).
  public var lowercased: String {
    let bytes = self.uuid
    return withUnsafeBytes(of: bytes) { raw in
      String(unsafeUninitializedCapacity: 36) { text in
        var at = 0
        for (index, byte) in raw.enumerated() {
          if index == 4 || index == 6 || index == 8 || index == 10 {
            text[at] = UInt8(ascii: "-")
            at += 1
          }
          text[at] = HexDigits.lowercase(byte >> 4)
          text[at + 1] = HexDigits.lowercase(byte & 0x0F)
          at += 2
        }
        return at
      }
    }
  }

  /// Parses the canonical text form, `8-4-4-4-12` hex digits in either case (what
  /// `UUID(uuidString:)` accepts), without going through `sscanf`.
  public init?(canonicalText text: String) {
    var text = text
    let parsed = text.withUTF8 { utf8 -> uuid_t? in
      guard utf8.count == 36 else { return nil }
      var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
      let complete = withUnsafeMutableBytes(of: &value) { bytes -> Bool in
        var at = 0
        for index in 0..<16 {
          if index == 4 || index == 6 || index == 8 || index == 10 {
            guard utf8[at] == UInt8(ascii: "-") else { return false }
            at += 1
          }
          guard let high = HexDigits.value(utf8[at]), let low = HexDigits.value(utf8[at + 1]) else { return false }
          bytes[index] = high << 4 | low
          at += 2
        }
        return true
      }
      return complete ? value : nil
    }
    guard let parsed else { return nil }
    self.init(uuid: parsed)
  }
}

/// The paths of an update mask, checked against the fields that may change.
public func updateMask(_ paths: [String], allowed: Set<String>) throws(RPCError) -> Set<String> {
  for path in paths where !allowed.contains(path) {
    throw RPCError(
      code: .invalidArgument,
      message: "update_mask names \"\(path.prefix(64))\", which cannot be changed; allowed: \(allowed.sorted().joined(separator: ", ")).")
  }
  return Set(paths)
}

internal import CSodium

/// Unpadded base64url (RFC 4648 §5), as JWTs use.
public enum Base64URL {
  public static func encode(_ bytes: [UInt8]) -> String {
    Sodium.ensureReady()
    let variant = Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING)
    let length = sodium_base64_encoded_len(bytes.count, variant)
    var out = [CChar](repeating: 0, count: length)
    bytes.withUnsafeBufferPointer { input in
      _ = sodium_bin2base64(&out, length, input.baseAddress, input.count, variant)
    }
    return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The bytes of unpadded base64url `text`; `nil` when it is anything else (padding included).
  ///
  /// Each text has one decoding and each byte string one encoding: the alphabet is checked
  /// here because libsodium 1.0.18 decodes every byte from 0x80 up as if it were `_`, so
  /// without the check a token's signature could be re-spelled with non-ASCII characters and
  /// still verify.
  public static func decode(_ text: some StringProtocol) -> [UInt8]? {
    Sodium.ensureReady()
    let input = Array(text.utf8)
    if input.isEmpty { return [] }
    guard input.allSatisfy(Self.isAlphabet) else { return nil }
    var out = [UInt8](repeating: 0, count: input.count * 3 / 4 + 3)
    var written = 0
    var end: UnsafePointer<CChar>? = nil
    let result = input.withUnsafeBufferPointer { source in
      source.withMemoryRebound(to: CChar.self) { chars in
        sodium_base642bin(
          &out, out.count, chars.baseAddress, chars.count, nil, &written, &end,
          Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING))
      }
    }
    guard result == 0, let end, input.withUnsafeBufferPointer({ source in
      source.withMemoryRebound(to: CChar.self) { end == $0.baseAddress! + $0.count }
    }) else { return nil }
    return Array(out.prefix(written))
  }

  private static func isAlphabet(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
      UInt8(ascii: "-"), UInt8(ascii: "_"):
      true
    default:
      false
    }
  }
}

internal import CSodium

/// Hash functions for fingerprints of secrets (refresh tokens, API keys) and hash chains.
public enum Digest {
  /// SHA-256 of `bytes`.
  public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
    Sodium.ensureReady()
    var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
    bytes.withUnsafeBufferPointer { _ = crypto_hash_sha256(&out, $0.baseAddress, UInt64($0.count)) }
    return out
  }

  /// SHA-256 of the UTF-8 bytes of `text`.
  public static func sha256(_ text: String) -> [UInt8] { self.sha256(Array(text.utf8)) }

  /// Lower-case hex of `bytes`.
  public static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      out.append(digits[Int(byte >> 4)])
      out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
  }
}

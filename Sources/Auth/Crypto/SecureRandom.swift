internal import CSodium

/// Cryptographically secure random bytes (libsodium's `randombytes_buf`).
public enum SecureRandom {
  /// `count` random bytes.
  public static func bytes(_ count: Int) -> [UInt8] {
    Sodium.ensureReady()
    var out = [UInt8](repeating: 0, count: count)
    if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } }
    return out
  }

  /// A random token of `byteCount` bytes as unpadded base64url text (for refresh tokens, API keys).
  public static func token(byteCount: Int = 32) -> String {
    Base64URL.encode(self.bytes(byteCount))
  }
}

/// Compares two byte strings in time that depends on their length only.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
  guard lhs.count == rhs.count else { return false }
  if lhs.isEmpty { return true }
  Sodium.ensureReady()
  return lhs.withUnsafeBytes { left in
    rhs.withUnsafeBytes { right in sodium_memcmp(left.baseAddress, right.baseAddress, lhs.count) == 0 }
  }
}

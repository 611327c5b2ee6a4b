internal import CSodium

/// Authenticated secret-key encryption (libsodium `crypto_secretbox`: XSalsa20-Poly1305), for
/// secrets kept at rest such as signing-key seeds.
public struct SecretBox: Sendable {
  /// Thrown for a key that is not 32 bytes.
  public struct InvalidKey: Error, CustomStringConvertible {
    public var description: String { "A secret-box key is 32 bytes." }
  }

  private let key: [UInt8]

  public init(key: [UInt8]) throws {
    guard key.count == Int(crypto_secretbox_KEYBYTES) else { throw InvalidKey() }
    Sodium.ensureReady()
    self.key = key
  }

  /// A random nonce followed by the ciphertext and its tag.
  public func seal(_ plaintext: [UInt8]) -> [UInt8] {
    let nonce = SecureRandom.bytes(Int(crypto_secretbox_NONCEBYTES))
    var sealed = [UInt8](repeating: 0, count: plaintext.count + Int(crypto_secretbox_MACBYTES))
    plaintext.withUnsafeBufferPointer { input in
      _ = crypto_secretbox_easy(&sealed, input.baseAddress, UInt64(input.count), nonce, self.key)
    }
    return nonce + sealed
  }

  /// The plaintext of `sealed`, or `nil` when it was not sealed with this key or was altered.
  public func open(_ sealed: [UInt8]) -> [UInt8]? {
    let nonceBytes = Int(crypto_secretbox_NONCEBYTES)
    let macBytes = Int(crypto_secretbox_MACBYTES)
    guard sealed.count >= nonceBytes + macBytes else { return nil }
    let nonce = Array(sealed.prefix(nonceBytes))
    let ciphertext = Array(sealed.dropFirst(nonceBytes))
    var plaintext = [UInt8](repeating: 0, count: ciphertext.count - macBytes)
    let result = ciphertext.withUnsafeBufferPointer { input in
      crypto_secretbox_open_easy(&plaintext, input.baseAddress!, UInt64(input.count), nonce, self.key)
    }
    return result == 0 ? plaintext : nil
  }
}

internal import CSodium

/// An Ed25519 private key (libsodium `crypto_sign`), kept as its 32-byte seed.
public struct Ed25519SigningKey: Sendable {
  /// Thrown for a seed that is not 32 bytes.
  public struct InvalidSeed: Error, CustomStringConvertible {
    public var description: String { "An Ed25519 seed is 32 bytes." }
  }

  /// The 32-byte seed the key pair derives from: the secret to store (encrypted or protected).
  public let seed: [UInt8]
  /// The 32-byte public key.
  public let publicKey: [UInt8]
  private let secretKey: [UInt8]

  /// A new random key.
  public init() {
    try! self.init(seed: SecureRandom.bytes(Int(crypto_sign_SEEDBYTES)))
  }

  /// The key derived from a 32-byte `seed`.
  public init(seed: [UInt8]) throws {
    guard seed.count == Int(crypto_sign_SEEDBYTES) else { throw InvalidSeed() }
    Sodium.ensureReady()
    var publicKey = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
    var secretKey = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
    _ = crypto_sign_seed_keypair(&publicKey, &secretKey, seed)
    self.seed = seed
    self.publicKey = publicKey
    self.secretKey = secretKey
  }

  /// The 64-byte detached signature of `message`.
  public func sign(_ message: [UInt8]) -> [UInt8] {
    var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
    message.withUnsafeBufferPointer { input in
      _ = crypto_sign_detached(&signature, nil, input.baseAddress, UInt64(input.count), self.secretKey)
    }
    return signature
  }
}

/// Ed25519 signature verification.
public enum Ed25519 {
  /// Whether `signature` is a valid signature of `message` by `publicKey`.
  public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
    guard signature.count == Int(crypto_sign_BYTES), publicKey.count == Int(crypto_sign_PUBLICKEYBYTES) else {
      return false
    }
    Sodium.ensureReady()
    return message.withUnsafeBufferPointer { input in
      crypto_sign_verify_detached(signature, input.baseAddress, UInt64(input.count), publicKey) == 0
    }
  }
}

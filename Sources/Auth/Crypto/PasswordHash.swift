internal import CSodium

/// Password hashing with argon2id (libsodium `crypto_pwhash_str`): salted, self-describing
/// `$argon2id$v=19$m=…,t=…,p=…$…` strings.
///
/// Hashing costs about 64 MiB and tens of milliseconds by design; call it off latency-critical
/// executors (``hash(_:)`` runs on whatever thread calls it).
public enum PasswordHash {
  /// Cost parameters: libsodium's interactive limits by default.
  public struct Cost: Sendable, Hashable {
    public var operations: UInt64
    public var memoryBytes: Int

    public init(operations: UInt64, memoryBytes: Int) {
      self.operations = operations
      self.memoryBytes = memoryBytes
    }

    /// libsodium's `OPSLIMIT_INTERACTIVE` / `MEMLIMIT_INTERACTIVE` (2 passes, 64 MiB).
    public static let interactive = Cost(
      operations: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE), memoryBytes: Int(crypto_pwhash_MEMLIMIT_INTERACTIVE))
  }

  /// Thrown when hashing fails (out of memory).
  public struct HashingFailed: Error, CustomStringConvertible {
    public var description: String { "Password hashing failed (out of memory)." }
  }

  /// The argon2id hash string of `password`.
  public static func hash(_ password: String, cost: Cost = .interactive) throws -> String {
    Sodium.ensureReady()
    var out = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
    let length = UInt64(password.utf8.count)
    let result = password.withCString { input in
      crypto_pwhash_str_alg(&out, input, length, cost.operations, cost.memoryBytes, crypto_pwhash_ALG_ARGON2ID13)
    }
    guard result == 0 else { throw HashingFailed() }
    return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Whether `password` matches `hash` (constant time in the password; `false` for a malformed hash).
  public static func verify(_ password: String, against hash: String) -> Bool {
    Sodium.ensureReady()
    let length = UInt64(password.utf8.count)
    return hash.withCString { hashPointer in
      password.withCString { input in crypto_pwhash_str_verify(hashPointer, input, length) == 0 }
    }
  }

  /// Whether `hash` was made with other parameters than `cost` (then rehash after a good login).
  public static func needsRehash(_ hash: String, cost: Cost = .interactive) -> Bool {
    Sodium.ensureReady()
    return hash.withCString { crypto_pwhash_str_needs_rehash($0, cost.operations, cost.memoryBytes) != 0 }
  }
}

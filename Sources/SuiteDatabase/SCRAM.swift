import Foundation
import Migrations

/// SCRAM-SHA-256 password verifiers in PostgreSQL's format, computed on the client.
///
/// `CREATE ROLE ... PASSWORD` cannot take a bind parameter. Sending the verifier instead of the
/// password (what `psql \password` and `createuser -P` do) means the clear-text password never
/// reaches the server: not in the statement, not in `log_statement` or error logs, not in
/// `pg_stat_activity`. PostgreSQL stores a verifier given in this form as is.
package enum SCRAMSHA256 {
  /// PostgreSQL's default (`scram_iterations`).
  package static let defaultIterations = 4096

  package struct InvalidPassword: Error, CustomStringConvertible {
    package let description: String
  }

  /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts) for `password`.
  ///
  /// - Throws: ``InvalidPassword`` for an empty password or one with characters outside
  ///   printable ASCII (PostgreSQL would SASLprep-normalize those; refusing keeps the client
  ///   and server computations identical).
  package static func verifier(
    password: String, salt: [UInt8]? = nil, iterations: Int = defaultIterations
  ) throws -> String {
    let bytes = Array(password.utf8)
    guard !bytes.isEmpty, bytes.allSatisfy({ (0x20...0x7e).contains($0) }) else {
      throw InvalidPassword(description: "Passwords must be non-empty printable ASCII.")
    }
    let salt = salt ?? (0..<16).map { _ in UInt8.random(in: .min ... .max) }
    let salted = pbkdf2(password: bytes, salt: salt, iterations: iterations)
    let clientKey = HMAC(key: salted).authenticate(Array("Client Key".utf8))
    let storedKey = SHA256.hash(clientKey)
    let serverKey = HMAC(key: salted).authenticate(Array("Server Key".utf8))
    return "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())"
      + "$\(Data(storedKey).base64EncodedString()):\(Data(serverKey).base64EncodedString())"
  }

  /// PBKDF2-HMAC-SHA-256 with one output block (32 bytes), as SCRAM uses it.
  package static func pbkdf2(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
    let mac = HMAC(key: password)
    var block = mac.authenticate(salt + [0, 0, 0, 1])
    var result = block
    for _ in 1..<max(iterations, 1) {
      block = mac.authenticate(block)
      for index in 0..<result.count { result[index] ^= block[index] }
    }
    return result
  }
}

/// HMAC-SHA-256 (RFC 2104) with the keyed inner and outer states computed once.
package struct HMAC {
  private var inner = SHA256()
  private var outer = SHA256()

  package init(key: [UInt8]) {
    var key = key.count > SHA256.blockSize ? SHA256.hash(key) : key
    key += [UInt8](repeating: 0, count: SHA256.blockSize - key.count)
    self.inner.update(key.map { $0 ^ 0x36 })
    self.outer.update(key.map { $0 ^ 0x5c })
  }

  package func authenticate(_ message: [UInt8]) -> [UInt8] {
    var inner = self.inner
    inner.update(message)
    var outer = self.outer
    outer.update(inner.finalize())
    return outer.finalize()
  }
}

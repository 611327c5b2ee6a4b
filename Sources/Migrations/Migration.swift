/// One versioned schema change of a service: SQL to apply it and SQL to undo it.
///
/// A service lists its migrations in version order (versions need not be contiguous but must
/// increase). Once applied, a migration's `up` SQL must never change: its checksum is recorded
/// and a runner refuses to continue when it differs.
public struct Migration: Sendable, Hashable {
  /// Increasing version, such as 1, 2, 3.
  public let version: Int64
  /// A short description, such as `create_users`.
  public let name: String
  /// SQL that applies the change (several statements allowed, no parameters).
  public let up: String
  /// SQL that undoes it.
  public let down: String

  public init(version: Int64, name: String, up: String, down: String) {
    self.version = version
    self.name = name
    self.up = up
    self.down = down
  }

  /// FNV-1a 64-bit of the `up` SQL, hex: detects edits of applied migrations (not an
  /// adversarial integrity check).
  public var checksum: String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in self.up.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }
}

/// Where one migration stands in a schema.
public struct MigrationStatus: Sendable, Hashable {
  public enum State: String, Sendable, Hashable {
    /// Applied with the same SQL the service carries now.
    case applied
    /// Not applied yet.
    case pending
    /// Applied, but the service's SQL has changed since: the runner refuses to migrate.
    case modified
    /// Recorded in the schema but unknown to this build (applied by a newer version).
    case unknown
  }

  public let version: Int64
  public let name: String
  public let state: State
}

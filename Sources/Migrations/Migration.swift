#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One versioned schema change of a service: SQL to apply it and SQL to undo it.
///
/// A service carries its migrations as SQL files compiled into its schema module (see
/// ``MigrationFiles`` and docs/database.md) and lists them in version order (versions need
/// not be contiguous but must increase). Once applied, a migration's `up` SQL must never change:
/// its checksum is recorded and the runner refuses to continue when it differs. Its `down` SQL
/// may be corrected at any time.
///
/// The SQL runs inside the runner's transaction with `search_path` set to the schema, so
/// unqualified names land in the service's schema. It must not contain `BEGIN`, `COMMIT` or
/// `ROLLBACK`, nor statements that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`,
/// `VACUUM`).
public struct Migration: Sendable, Hashable {
  /// Increasing version, such as 1, 2, 3 (or a date such as 2026_11_22_01), at least 1.
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

  /// SHA-256 of the `up` SQL's UTF-8 bytes, lower-case hex: detects edits of applied migrations.
  public var checksum: String { SHA256.hex(self.up) }
}

/// A row of `<schema>.schema_migrations`: one applied migration.
public struct AppliedMigration: Sendable, Hashable {
  public let version: Int64
  public let name: String
  /// The checksum of the `up` SQL that was applied.
  public let checksum: String
  public let appliedAt: Date

  public init(version: Int64, name: String, checksum: String, appliedAt: Date) {
    self.version = version
    self.name = name
    self.checksum = checksum
    self.appliedAt = appliedAt
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
    /// Recorded in the schema but unknown to this build (applied by another version).
    case unknown
  }

  public let version: Int64
  /// The build's name for it (the recorded name for `unknown` ones).
  public let name: String
  public let state: State
  /// When it was applied; `nil` when pending.
  public let appliedAt: Date?

  public init(version: Int64, name: String, state: State, appliedAt: Date?) {
    self.version = version
    self.name = name
    self.state = state
    self.appliedAt = appliedAt
  }
}

/// Why migrating cannot proceed. `description` is one line for an operator; it never contains
/// bind values (migrations have none) but may contain the server's message.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
  public struct Kind: Sendable, Hashable, CustomStringConvertible {
    private let name: String
    public var description: String { self.name }

    /// The schema name is not a plain identifier.
    public static let invalidSchema = Kind(name: "invalidSchema")
    /// The build's list of migrations is unusable (versions not increasing, empty name...).
    public static let invalidMigrations = Kind(name: "invalidMigrations")
    /// The schema does not exist (bootstrap has not run).
    public static let missingSchema = Kind(name: "missingSchema")
    /// An applied migration's `up` SQL differs from the build's.
    public static let edited = Kind(name: "edited")
    /// The schema's history does not match the build's list (a recorded version below the
    /// build's newest is unknown, or a pending version is older than an applied one).
    public static let diverged = Kind(name: "diverged")
    /// A migration's SQL failed; nothing of the run was kept (see `underlying`).
    public static let failed = Kind(name: "failed")
    /// A migration's SQL ended the runner's transaction (COMMIT/ROLLBACK in it).
    public static let endedTransaction = Kind(name: "endedTransaction")
    /// The version to roll back is unknown to this build, so its `down` SQL is not available.
    public static let unknownVersion = Kind(name: "unknownVersion")
  }

  public let kind: Kind
  /// The migration concerned, when there is one.
  public let version: Int64?
  public let description: String
  /// The server's error for `failed`.
  public let underlying: (any Error & Sendable)?

  init(_ kind: Kind, version: Int64? = nil, _ description: String, underlying: (any Error & Sendable)? = nil) {
    self.kind = kind
    self.version = version
    self.description = description
    self.underlying = underlying
  }
}

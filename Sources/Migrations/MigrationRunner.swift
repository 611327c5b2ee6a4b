public import Logging
public import Postgres

/// Applies, inspects and rolls back a service's migrations in its schema.
///
/// Every operation runs in one transaction holding a transaction-scoped advisory lock derived
/// from the schema name, so replicas starting together apply each migration exactly once: the
/// second waits, then finds nothing pending. History lives in `<schema>.schema_migrations`.
public struct MigrationRunner: Sendable {
  /// Why migrating cannot proceed.
  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  public let schema: String
  public let migrations: [Migration]
  private let logger: Logger

  /// - Throws: ``Failure`` when `schema` is not a plain lower-case identifier or versions do not
  ///   increase.
  public init(schema: String, migrations: [Migration], logger: Logger) throws {
    guard Self.isPlainIdentifier(schema) else {
      throw Failure(description: "Invalid schema name '\(schema)': use [a-z_][a-z0-9_]* (at most 63).")
    }
    for (previous, next) in zip(migrations, migrations.dropFirst()) where next.version <= previous.version {
      throw Failure(description: "Migration versions must increase: \(previous.version) then \(next.version).")
    }
    self.schema = schema
    self.migrations = migrations
    self.logger = logger
  }

  static func isPlainIdentifier(_ name: String) -> Bool {
    guard let first = name.utf8.first, name.utf8.count <= 63,
      first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
    else { return false }
    return name.utf8.allSatisfy {
      $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
    }
  }

  /// Applies every pending migration, in order, in one transaction.
  ///
  /// - Returns: the versions applied (empty when up to date).
  /// - Throws: ``Failure`` when an applied migration was edited; the server's error when a
  ///   migration fails (nothing of this run is kept).
  @discardableResult
  public func migrate(on connection: PostgresConnection) async throws -> [Int64] {
    try await self.locked(on: connection) { connection, applied in
      for migration in self.migrations {
        if let checksum = applied[migration.version], checksum != migration.checksum {
          throw Failure(
            description: "Migration \(migration.version) (\(migration.name)) of schema \(self.schema) was edited after it was applied.")
        }
      }
      var done: [Int64] = []
      for migration in self.migrations where applied[migration.version] == nil {
        try await connection.executeScript(PostgresQuery(unsafeSQL: migration.up))
        try await connection.query(
          "INSERT INTO \(identifier: self.schema).schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))")
        self.logger.info(
          "Applied migration",
          metadata: ["db.schema": "\(self.schema)", "migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
        done.append(migration.version)
      }
      return done
    }
  }

  /// Every migration known to this build or recorded in the schema, with its state.
  public func status(on connection: PostgresConnection) async throws -> [MigrationStatus] {
    try await self.locked(on: connection) { _, applied in
      var result: [MigrationStatus] = self.migrations.map { migration in
        let state: MigrationStatus.State =
          switch applied[migration.version] {
          case nil: .pending
          case migration.checksum?: .applied
          default: .modified
          }
        return MigrationStatus(version: migration.version, name: migration.name, state: state)
      }
      let known = Set(self.migrations.map(\.version))
      for version in applied.keys.sorted() where !known.contains(version) {
        result.append(MigrationStatus(version: version, name: "?", state: .unknown))
      }
      return result.sorted { $0.version < $1.version }
    }
  }

  /// The highest applied version, or 0 when nothing is applied.
  public func currentVersion(on connection: PostgresConnection) async throws -> Int64 {
    try await self.status(on: connection).filter { $0.state != .pending }.map(\.version).max() ?? 0
  }

  /// Undoes the most recently applied migration with its `down` SQL.
  ///
  /// - Returns: the migration rolled back, or `nil` when none is applied.
  @discardableResult
  public func rollBackOne(on connection: PostgresConnection) async throws -> Migration? {
    try await self.locked(on: connection) { connection, applied in
      guard let last = applied.keys.max() else { return nil }
      guard let migration = self.migrations.first(where: { $0.version == last }) else {
        throw Failure(description: "Version \(last) of schema \(self.schema) is unknown to this build; cannot roll it back.")
      }
      try await connection.executeScript(PostgresQuery(unsafeSQL: migration.down))
      try await connection.query(
        "DELETE FROM \(identifier: self.schema).schema_migrations WHERE version = \(last)")
      self.logger.info(
        "Rolled back migration",
        metadata: ["db.schema": "\(self.schema)", "migration.version": "\(last)"])
      return migration
    }
  }

  /// Runs `body` in a transaction holding the schema's advisory lock, with the applied
  /// versions and checksums.
  private func locked<Result: Sendable>(
    on connection: PostgresConnection,
    _ body: (PostgresConnection, [Int64: String]) async throws -> Result
  ) async throws -> Result {
    try await connection.withTransaction { connection in
      try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("schema_migrations:" + self.schema)))")
      try await connection.query(
        """
        CREATE TABLE IF NOT EXISTS \(identifier: self.schema).schema_migrations (
          version bigint PRIMARY KEY,
          name text NOT NULL,
          checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())
        """)
      var applied: [Int64: String] = [:]
      for row in try await connection.query(
        "SELECT version, checksum FROM \(identifier: self.schema).schema_migrations")
      {
        let (version, checksum) = try row.decode((Int64, String).self)
        applied[version] = checksum
      }
      return try await body(connection, applied)
    }
  }
}

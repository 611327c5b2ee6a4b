#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
public import Postgres

/// Applies, inspects and rolls back a service's migrations in its schema.
///
/// `migrate` and `rollBackOne` run in one transaction that first takes
/// `pg_advisory_xact_lock(hashtext('schema_migrations:' || schema))`, so replicas starting
/// together apply each migration exactly once: the second waits for the first to commit, then
/// finds nothing pending. Everything a run applies commits together or not at all. History lives
/// in `<schema>.schema_migrations (version, name, checksum, applied_at)`, created on first use.
///
/// Inside that transaction `search_path` is the schema and, when `role` is given, the role is
/// `SET LOCAL ROLE role`, so objects belong to the service's role even when an administrator
/// runs the migrations.
public struct MigrationRunner: Sendable {
  public let schema: String
  public let migrations: [Migration]
  /// The role the migrations run as (`SET LOCAL ROLE`), or `nil` for the session's role.
  public let role: String?
  private let logger: Logger

  /// - Throws: ``MigrationError`` (`invalidSchema`) when `schema` or `role` is not a plain
  ///   lower-case identifier, (`invalidMigrations`) when versions are not positive and
  ///   increasing or a name is empty.
  public init(schema: String, migrations: [Migration], role: String? = nil, logger: Logger) throws {
    for name in [schema] + (role.map { [$0] } ?? []) where !Self.isPlainIdentifier(name) {
      throw MigrationError(
        .invalidSchema, "Invalid schema or role name '\(name)': use [a-z_][a-z0-9_]* (at most 63 bytes).")
    }
    for migration in migrations where migration.version < 1 || migration.name.isEmpty {
      throw MigrationError(
        .invalidMigrations, version: migration.version,
        "Migration \(migration.version) of schema \(schema) needs a version of at least 1 and a name.")
    }
    for (previous, next) in zip(migrations, migrations.dropFirst()) where next.version <= previous.version {
      throw MigrationError(
        .invalidMigrations, version: next.version,
        "Migration versions of schema \(schema) must increase: \(previous.version) then \(next.version).")
    }
    self.schema = schema
    self.migrations = migrations
    self.role = role
    self.logger = logger
  }

  /// Whether `name` is `[a-z_][a-z0-9_]*`, at most 63 bytes: safe to use unquoted and never
  /// folded or truncated by the server. (It is still always quoted with `\(identifier:)`.)
  public static func isPlainIdentifier(_ name: String) -> Bool {
    guard let first = name.utf8.first, name.utf8.count <= 63,
      first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
    else { return false }
    return name.utf8.allSatisfy {
      $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
    }
  }

  // MARK: applying

  /// Applies every pending migration, in order, in one transaction.
  ///
  /// - Returns: the versions applied (empty when up to date).
  /// - Throws: ``MigrationError``: `edited` when an applied migration's SQL changed, `diverged`
  ///   when history and build disagree, `failed` when a migration's SQL fails (nothing of this
  ///   run is kept), `missingSchema`, `endedTransaction`.
  @discardableResult
  public func migrate(on connection: PostgresConnection) async throws -> [Int64] {
    try await self.locked(on: connection) { connection, history in
      try self.validate(history)
      let applied = Set(history.map(\.version))
      var done: [Int64] = []
      for migration in self.migrations where !applied.contains(migration.version) {
        try await self.run(migration.up, of: migration, verb: "apply", on: connection)
        try await connection.query(
          """
          INSERT INTO \(identifier: self.schema).schema_migrations (version, name, checksum)
          VALUES (\(migration.version), \(migration.name), \(migration.checksum))
          """)
        done.append(migration.version)
      }
      for version in done {
        self.logger.info(
          "Applied migration",
          metadata: ["db.schema": "\(self.schema)", "migration.version": "\(version)"])
      }
      return done
    }
  }

  /// ``migrate(on:)`` on a connection of `pool`: what a service calls at start-up, before it
  /// opens its port.
  @discardableResult
  public func migrate(using pool: PostgresPool) async throws -> [Int64] {
    try await pool.withConnection { try await self.migrate(on: $0) }
  }

  /// Undoes the most recently applied migration with its `down` SQL, in one transaction.
  ///
  /// - Returns: the migration rolled back, or `nil` when none is applied.
  @discardableResult
  public func rollBackOne(on connection: PostgresConnection) async throws -> Migration? {
    try await self.locked(on: connection) { connection, history in
      guard let last = history.last else { return nil }
      guard let migration = self.migrations.first(where: { $0.version == last.version }) else {
        throw MigrationError(
          .unknownVersion, version: last.version,
          "Migration \(last.version) (\(last.name)) of schema \(self.schema) is unknown to this build; cannot roll it back.")
      }
      try await self.run(migration.down, of: migration, verb: "roll back", on: connection)
      try await connection.query(
        "DELETE FROM \(identifier: self.schema).schema_migrations WHERE version = \(last.version)")
      self.logger.info(
        "Rolled back migration",
        metadata: ["db.schema": "\(self.schema)", "migration.version": "\(last.version)"])
      return migration
    }
  }

  // MARK: inspecting

  /// The recorded history, oldest version first (empty when nothing was ever applied).
  /// Read-only: creates nothing and takes no lock.
  public func history(on connection: PostgresConnection) async throws -> [AppliedMigration] {
    try await connection.withTransaction(readOnly: true) { connection in
      let exists = try await connection.query(
        "SELECT to_regclass(format('%I.schema_migrations', \(self.schema)::text)) IS NOT NULL")
      guard try exists.first?.decode(Bool.self) == true else { return [] }
      return try await self.readHistory(on: connection)
    }
  }

  /// Every migration known to this build or recorded in the schema, with its state, by version.
  public func status(on connection: PostgresConnection) async throws -> [MigrationStatus] {
    Self.status(migrations: self.migrations, history: try await self.history(on: connection))
  }

  /// The highest applied version, or 0 when nothing is applied.
  public func currentVersion(on connection: PostgresConnection) async throws -> Int64 {
    try await self.history(on: connection).last?.version ?? 0
  }

  static func status(migrations: [Migration], history: [AppliedMigration]) -> [MigrationStatus] {
    let recorded = Dictionary(uniqueKeysWithValues: history.map { ($0.version, $0) })
    var result: [MigrationStatus] = migrations.map { migration in
      guard let row = recorded[migration.version] else {
        return MigrationStatus(version: migration.version, name: migration.name, state: .pending, appliedAt: nil)
      }
      return MigrationStatus(
        version: migration.version, name: migration.name,
        state: row.checksum == migration.checksum ? .applied : .modified, appliedAt: row.appliedAt)
    }
    let known = Set(migrations.map(\.version))
    for row in history where !known.contains(row.version) {
      result.append(MigrationStatus(version: row.version, name: row.name, state: .unknown, appliedAt: row.appliedAt))
    }
    return result.sorted { $0.version < $1.version }
  }

  // MARK: internals

  /// Refuses to migrate when the recorded history and the build's list disagree.
  func validate(_ history: [AppliedMigration]) throws {
    let known = Dictionary(uniqueKeysWithValues: self.migrations.map { ($0.version, $0) })
    let newestKnown = self.migrations.last?.version ?? 0
    for row in history {
      if let migration = known[row.version] {
        if migration.checksum != row.checksum {
          throw MigrationError(
            .edited, version: row.version,
            "Migration \(row.version) (\(migration.name)) of schema \(self.schema) was edited after it was applied "
              + "(recorded checksum \(row.checksum.prefix(12))…, now \(migration.checksum.prefix(12))…): "
              + "restore its SQL and put the change in a new migration.")
        }
      } else if row.version < newestKnown {
        throw MigrationError(
          .diverged, version: row.version,
          "Migration \(row.version) (\(row.name)) is recorded in \(self.schema).schema_migrations but unknown to this build, "
            + "which knows versions up to \(newestKnown).")
      } else {
        self.logger.warning(
          "Schema has migrations newer than this build",
          metadata: ["db.schema": "\(self.schema)", "migration.version": "\(row.version)"])
      }
    }
    let appliedVersions = Set(history.map(\.version))
    if let newestApplied = history.last?.version,
      let stale = self.migrations.first(where: { $0.version < newestApplied && !appliedVersions.contains($0.version) })
    {
      throw MigrationError(
        .diverged, version: stale.version,
        "Migration \(stale.version) (\(stale.name)) of schema \(self.schema) is pending but \(newestApplied) is already applied: "
          + "give it a version above \(newestApplied).")
    }
  }

  private func run(_ sql: String, of migration: Migration, verb: String, on connection: PostgresConnection) async throws {
    do {
      try await connection.executeScript(PostgresQuery(unsafeSQL: sql))
    } catch let error as PostgresError {
      let server = error.serverInfo.map { info in
        ": " + [info.sqlState.map { "SQLSTATE \($0)" }, info.message].compactMap { $0 }.joined(separator: " ")
      } ?? ": \(error)"
      throw MigrationError(
        .failed, version: migration.version,
        "Cannot \(verb) migration \(migration.version) (\(migration.name)) of schema \(self.schema), nothing was changed\(server)",
        underlying: error)
    }
    if connection.isIdle {
      throw MigrationError(
        .endedTransaction, version: migration.version,
        "Migration \(migration.version) (\(migration.name)) of schema \(self.schema) ended the transaction "
          + "(COMMIT or ROLLBACK in its SQL); its statements up to there were committed.")
    }
  }

  /// Runs `body` in a transaction holding the schema's advisory lock, with the recorded history.
  private func locked<Result: Sendable>(
    on connection: PostgresConnection,
    _ body: (PostgresConnection, [AppliedMigration]) async throws -> Result
  ) async throws -> Result {
    try await connection.withTransaction { connection in
      if let role = self.role {
        try await connection.query("SET LOCAL ROLE \(identifier: role)")
      }
      try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("schema_migrations:" + self.schema)))")
      let schemaExists = try await connection.query("SELECT 1 FROM pg_namespace WHERE nspname = \(self.schema)")
      guard !schemaExists.isEmpty else {
        throw MigrationError(
          .missingSchema, "Schema \(self.schema) does not exist: create it first (suite-db bootstrap).")
      }
      try await connection.query("SET LOCAL search_path TO \(identifier: self.schema)")
      try await connection.query(
        """
        CREATE TABLE IF NOT EXISTS \(identifier: self.schema).schema_migrations (
          version bigint PRIMARY KEY,
          name text NOT NULL,
          checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())
        """)
      return try await body(connection, try await self.readHistory(on: connection))
    }
  }

  private func readHistory(on connection: PostgresConnection) async throws -> [AppliedMigration] {
    try await connection.query(
      "SELECT version, name, checksum, applied_at FROM \(identifier: self.schema).schema_migrations ORDER BY version"
    ).map { row in
      let (version, name, checksum, appliedAt) = try row.decode((Int64, String, String, Date).self)
      return AppliedMigration(version: version, name: name, checksum: checksum, appliedAt: appliedAt)
    }
  }
}

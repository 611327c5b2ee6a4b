import Foundation
import Migrations
import Postgres
import PostgresTestSupport
import Testing

/// The runner against the real throwaway cluster. Each test gets a fresh schema; connections
/// use the server's default search_path, so unqualified names in the migrations prove that the
/// runner points search_path at the schema itself.
@Suite("Migrations")
struct MigrationRunnerTests {
  static let create = Migration(
    version: 1, name: "create_notes",
    up: "CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);",
    down: "DROP TABLE notes;")
  static let addColumn = Migration(
    version: 2, name: "add_created_at",
    up: """
      ALTER TABLE notes ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
      CREATE INDEX notes_created ON notes (created_at);
      """,
    down: "DROP INDEX notes_created; ALTER TABLE notes DROP COLUMN created_at;")
  /// Fails with a unique violation if it ever runs twice.
  static let seed = Migration(
    version: 3, name: "seed_note",
    up: "INSERT INTO notes (id, body) VALUES (1, 'first');",
    down: "DELETE FROM notes WHERE id = 1;")
  static let all = [create, addColumn, seed]

  /// A fresh schema, a connection with the default search_path and a runner for `migrations`.
  private func withSchema(
    _ name: String, _ migrations: [Migration] = Self.all,
    _ body: (MigrationRunner, PostgresConnection, PostgresConfiguration) async throws -> Void
  ) async throws {
    try await withTestSchema(name) { configuration in
      let schema = try #require(configuration.searchPath?.first)
      var plain = configuration
      plain.searchPath = nil
      let runner = try MigrationRunner(schema: schema, migrations: migrations, logger: testLogger)
      let connection = try await PostgresConnection.connect(configuration: plain, logger: testLogger)
      do {
        try await body(runner, connection, plain)
        await connection.close()
      } catch {
        await connection.close()
        throw error
      }
    }
  }

  private func columns(_ table: String, in schema: String, on connection: PostgresConnection) async throws -> [String] {
    try await connection.query(
      """
      SELECT column_name::text FROM information_schema.columns
      WHERE table_schema = \(schema) AND table_name = \(table) ORDER BY ordinal_position
      """
    ).decode(String.self)
  }

  @Test func appliesPendingMigrationsInOrderAndRecordsThemWithChecksums() async throws {
    try await self.withSchema("apply") { runner, connection, _ in
      #expect(try await runner.status(on: connection).map(\.state) == [.pending, .pending, .pending])
      #expect(try await runner.currentVersion(on: connection) == 0)

      #expect(try await runner.migrate(on: connection) == [1, 2, 3])

      let history = try await runner.history(on: connection)
      #expect(history.map(\.version) == [1, 2, 3])
      #expect(history.map(\.name) == ["create_notes", "add_created_at", "seed_note"])
      #expect(history.map(\.checksum) == Self.all.map(\.checksum))
      // The checksum is SHA-256 of the up SQL, as the server computes it.
      for migration in Self.all {
        let serverSide = try await connection.query(
          "SELECT encode(sha256(convert_to(\(migration.up), 'UTF8')), 'hex')")
        #expect(try serverSide[0].decode(String.self) == migration.checksum)
      }
      #expect(history.allSatisfy { abs($0.appliedAt.timeIntervalSinceNow) < 60 })
      #expect(try await runner.currentVersion(on: connection) == 3)
      #expect(try await runner.status(on: connection).map(\.state) == [.applied, .applied, .applied])
      #expect(try await self.columns("notes", in: runner.schema, on: connection) == ["id", "body", "created_at"])
    }
  }

  @Test func aSecondRunChangesNothing() async throws {
    try await self.withSchema("noop") { runner, connection, _ in
      try await runner.migrate(on: connection)
      let before = try await runner.history(on: connection)
      #expect(try await runner.migrate(on: connection) == [])
      #expect(try await runner.history(on: connection) == before)
    }
  }

  @Test func statusIsReadOnly() async throws {
    try await self.withSchema("status") { runner, connection, _ in
      _ = try await runner.status(on: connection)
      let table = try await connection.query(
        "SELECT to_regclass(format('%I.schema_migrations', \(runner.schema)::text))::text")
      #expect(try table[0].decode(String?.self) == nil)
    }
  }

  @Test func anEditedAppliedMigrationIsRefusedNamingItsVersion() async throws {
    try await self.withSchema("edited", [Self.create, Self.addColumn]) { runner, connection, _ in
      try await runner.migrate(on: connection)
      let edited = Migration(
        version: 2, name: "add_created_at", up: Self.addColumn.up + " -- changed", down: Self.addColumn.down)
      let changed = try MigrationRunner(
        schema: runner.schema, migrations: [Self.create, edited, Self.seed], logger: testLogger)
      let error = await #expect(throws: MigrationError.self) { try await changed.migrate(on: connection) }
      #expect(error?.kind == .edited)
      #expect(error?.version == 2)
      #expect(error?.description.contains("Migration 2 (add_created_at)") == true)
      #expect(try await changed.status(on: connection).map(\.state) == [.applied, .modified, .pending])
      // Nothing was applied: the pending migration 3 did not run.
      #expect(try await runner.currentVersion(on: connection) == 2)
      // Correcting a down script is fine: only up is checksummed.
      let newDown = Migration(version: 2, name: "add_created_at", up: Self.addColumn.up, down: "SELECT 1;")
      let fixed = try MigrationRunner(schema: runner.schema, migrations: [Self.create, newDown], logger: testLogger)
      #expect(try await fixed.migrate(on: connection) == [])
    }
  }

  @Test func rollsBackOneStep() async throws {
    try await self.withSchema("rollback") { runner, connection, _ in
      try await runner.migrate(on: connection)
      #expect(try await runner.rollBackOne(on: connection)?.version == 3)
      #expect(try await runner.rollBackOne(on: connection)?.version == 2)
      #expect(try await runner.currentVersion(on: connection) == 1)
      #expect(try await runner.status(on: connection).map(\.state) == [.applied, .pending, .pending])
      #expect(try await self.columns("notes", in: runner.schema, on: connection) == ["id", "body"])
      #expect(try await runner.migrate(on: connection) == [2, 3])
      for _ in 0..<3 { try await runner.rollBackOne(on: connection) }
      #expect(try await runner.rollBackOne(on: connection) == nil)
      #expect(try await self.columns("notes", in: runner.schema, on: connection) == [])
    }
  }

  @Test func concurrentRunnersApplyEachMigrationOnce() async throws {
    // The first migration sleeps so that every runner is waiting on the lock while it runs.
    let slow = Migration(
      version: 1, name: "create_notes", up: "SELECT pg_sleep(0.3); " + Self.create.up, down: Self.create.down)
    try await self.withSchema("concurrent", [slow, Self.addColumn, Self.seed]) { runner, _, configuration in
      var connections: [PostgresConnection] = []
      for _ in 0..<4 {
        connections.append(try await PostgresConnection.connect(configuration: configuration, logger: testLogger))
      }
      let applied = try await withThrowingTaskGroup(of: [Int64].self) { group in
        for connection in connections {
          group.addTask { try await runner.migrate(on: connection) }
        }
        var all: [[Int64]] = []
        for try await done in group { all.append(done) }
        return all
      }
      #expect(applied.filter { !$0.isEmpty } == [[1, 2, 3]])
      #expect(try await runner.history(on: connections[0]).map(\.version) == [1, 2, 3])
      for connection in connections { await connection.close() }
    }
  }

  @Test func aFailingMigrationRollsBackTheWholeRun() async throws {
    let broken = Migration(
      version: 4, name: "broken", up: "CREATE TABLE other (id int); SELECT no_such_function();", down: "")
    try await self.withSchema("failing", [Self.create, Self.addColumn, Self.seed, broken]) { runner, connection, _ in
      // From scratch: nothing at all remains, not even the history table.
      let error = await #expect(throws: MigrationError.self) { try await runner.migrate(on: connection) }
      #expect(error?.kind == .failed)
      #expect(error?.version == 4)
      #expect(error?.underlying is PostgresError)
      #expect(error?.description.contains("no_such_function") == true)
      let tables = try await connection.query(
        "SELECT count(*)::bigint FROM information_schema.tables WHERE table_schema = \(runner.schema)")
      #expect(try tables[0].decode(Int64.self) == 0)

      // On top of applied ones: those stay, the run's others (2 and 3) are undone.
      let first = try MigrationRunner(schema: runner.schema, migrations: [Self.create], logger: testLogger)
      try await first.migrate(on: connection)
      await #expect(throws: MigrationError.self) { try await runner.migrate(on: connection) }
      #expect(try await runner.currentVersion(on: connection) == 1)
      #expect(try await self.columns("notes", in: runner.schema, on: connection) == ["id", "body"])
    }
  }

  @Test func aMigrationThatEndsTheTransactionIsReported() async throws {
    let committing = Migration(version: 1, name: "commits", up: "CREATE TABLE t (id int); COMMIT;", down: "DROP TABLE t;")
    try await self.withSchema("commit", [committing]) { runner, connection, _ in
      let error = await #expect(throws: MigrationError.self) { try await runner.migrate(on: connection) }
      #expect(error?.kind == .endedTransaction)
      #expect(error?.version == 1)
      #expect(connection.isIdle)
    }
  }

  @Test func aHistoryThatDivergesFromTheBuildIsRefused() async throws {
    try await self.withSchema("diverged") { runner, connection, _ in
      // Applied 1 and 3; a build that now also has 2 would apply it out of order.
      let skipping = try MigrationRunner(schema: runner.schema, migrations: [Self.create, Self.seed], logger: testLogger)
      try await skipping.migrate(on: connection)
      let outOfOrder = await #expect(throws: MigrationError.self) { try await runner.migrate(on: connection) }
      #expect(outOfOrder?.kind == .diverged)
      #expect(outOfOrder?.version == 2)

      // A recorded version below the build's newest that the build does not know.
      let other = Migration(version: 5, name: "other", up: "SELECT 1;", down: "SELECT 1;")
      let missing = try MigrationRunner(schema: runner.schema, migrations: [Self.create, other], logger: testLogger)
      let unknown = await #expect(throws: MigrationError.self) { try await missing.migrate(on: connection) }
      #expect(unknown?.kind == .diverged)
      #expect(unknown?.version == 3)
    }
  }

  @Test func anOlderBuildToleratesNewerMigrationsButCannotRollThemBack() async throws {
    try await self.withSchema("newer") { runner, connection, _ in
      try await runner.migrate(on: connection)
      let older = try MigrationRunner(schema: runner.schema, migrations: [Self.create], logger: testLogger)
      #expect(try await older.migrate(on: connection) == [])
      #expect(try await older.status(on: connection).map(\.state) == [.applied, .unknown, .unknown])
      let error = await #expect(throws: MigrationError.self) { try await older.rollBackOne(on: connection) }
      #expect(error?.kind == .unknownVersion)
      #expect(error?.version == 3)
    }
  }

  @Test func aMissingSchemaIsReportedClearly() async throws {
    let admin = try await TestCluster.shared.adminConfiguration()
    let connection = try await PostgresConnection.connect(configuration: admin, logger: testLogger)
    let runner = try MigrationRunner(schema: "no_such_schema_here", migrations: Self.all, logger: testLogger)
    let error = await #expect(throws: MigrationError.self) { try await runner.migrate(on: connection) }
    #expect(error?.kind == .missingSchema)
    #expect(try await runner.status(on: connection).map(\.state) == [.pending, .pending, .pending])
    await connection.close()
  }

  @Test func migratesThroughAPool() async throws {
    try await self.withSchema("pool") { runner, _, configuration in
      let pool = PostgresPool(configuration: .init(connection: configuration), logger: testLogger)
      let first = try await runner.migrate(using: pool)
      let second = try await runner.migrate(using: pool)
      #expect(first == [1, 2, 3])
      #expect(second == [])
      await pool.close()
    }
  }

  @Test func checksumsMatchTheServersSHA256AtEveryPaddingBoundary() async throws {
    let admin = try await TestCluster.shared.adminConfiguration()
    let connection = try await PostgresConnection.connect(configuration: admin, logger: testLogger)
    let expected = try await connection.query(
      "SELECT encode(sha256(convert_to(repeat('é', n / 2) || repeat('x', n % 2), 'UTF8')), 'hex') FROM generate_series(0, 300) AS n ORDER BY n"
    ).decode(String.self)
    let local = (0...300).map { n in
      Migration(version: 1, name: "n", up: String(repeating: "é", count: n / 2) + String(repeating: "x", count: n % 2), down: "").checksum
    }
    #expect(local == expected)
    #expect(Migration(version: 1, name: "n", up: "abc", down: "").checksum
      == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    await connection.close()
  }

  @Test(arguments: ["Bad", "1abc", "a-b", "x; DROP TABLE y", "", String(repeating: "a", count: 64)])
  func invalidSchemaNamesAreRejected(_ name: String) {
    let error = #expect(throws: MigrationError.self) {
      try MigrationRunner(schema: name, migrations: [], logger: testLogger)
    }
    #expect(error?.kind == .invalidSchema)
  }

  @Test func versionsMustBePositiveAndIncrease() {
    for list in [[Self.addColumn, Self.create], [Self.create, Self.create], [Migration(version: 0, name: "zero", up: "", down: "")]] {
      let error = #expect(throws: MigrationError.self) {
        try MigrationRunner(schema: "ok", migrations: list, logger: testLogger)
      }
      #expect(error?.kind == .invalidMigrations)
    }
  }
}

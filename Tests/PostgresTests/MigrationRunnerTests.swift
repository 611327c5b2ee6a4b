import Migrations
import Postgres
import Testing

@Suite("Migrations")
struct MigrationRunnerTests {
  static func migrations(_ schema: String) -> [Migration] {
    [
      Migration(
        version: 1, name: "create_notes",
        up: "CREATE TABLE \(schema).notes (id bigint PRIMARY KEY, body text NOT NULL);",
        down: "DROP TABLE \(schema).notes;"),
      Migration(
        version: 2, name: "add_created_at",
        up: "ALTER TABLE \(schema).notes ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(); CREATE INDEX notes_created ON \(schema).notes (created_at);",
        down: "DROP INDEX \(schema).notes_created; ALTER TABLE \(schema).notes DROP COLUMN created_at;"),
    ]
  }

  private func withRunner(
    _ name: String, _ body: (MigrationRunner, PostgresConfiguration) async throws -> Void
  ) async throws {
    try await withTestSchema(name) { configuration in
      let schema = try #require(configuration.searchPath?.first)
      let runner = try MigrationRunner(schema: schema, migrations: Self.migrations(schema), logger: testLogger)
      try await body(runner, configuration)
    }
  }

  @Test func appliesPendingMigrationsInOrderAndRecordsThem() async throws {
    try await self.withRunner("apply") { runner, configuration in
      let connection = try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
      #expect(try await runner.migrate(on: connection) == [1, 2])
      #expect(try await runner.migrate(on: connection) == [])
      #expect(try await runner.currentVersion(on: connection) == 2)
      #expect(try await runner.status(on: connection).map(\.state) == [.applied, .applied])
      try await connection.query("INSERT INTO notes (id, body) VALUES (1, 'x')")
      await connection.close()
    }
  }

  @Test func anEditedAppliedMigrationIsRefused() async throws {
    try await self.withRunner("edited") { runner, configuration in
      let connection = try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
      try await runner.migrate(on: connection)
      var edited = runner.migrations
      edited[0] = Migration(version: 1, name: "create_notes", up: edited[0].up + " -- changed", down: edited[0].down)
      let changed = try MigrationRunner(schema: runner.schema, migrations: edited, logger: testLogger)
      await #expect(throws: MigrationRunner.Failure.self) { try await changed.migrate(on: connection) }
      #expect(try await changed.status(on: connection).first?.state == .modified)
      await connection.close()
    }
  }

  @Test func rollsBackOneStep() async throws {
    try await self.withRunner("rollback") { runner, configuration in
      let connection = try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
      try await runner.migrate(on: connection)
      #expect(try await runner.rollBackOne(on: connection)?.version == 2)
      #expect(try await runner.currentVersion(on: connection) == 1)
      #expect(try await runner.status(on: connection).map(\.state) == [.applied, .pending])
      #expect(try await runner.migrate(on: connection) == [2])
      await connection.close()
    }
  }

  @Test func aFailingMigrationLeavesNothingBehind() async throws {
    try await withTestSchema("failing") { configuration in
      let schema = try #require(configuration.searchPath?.first)
      let broken = Self.migrations(schema) + [
        Migration(version: 3, name: "broken", up: "CREATE TABLE \(schema).other (id int); SELECT no_such_function();", down: "")
      ]
      let runner = try MigrationRunner(schema: schema, migrations: broken, logger: testLogger)
      let connection = try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
      await #expect(throws: PostgresError.self) { try await runner.migrate(on: connection) }
      let tables = try await connection.query(
        "SELECT count(*)::bigint FROM information_schema.tables WHERE table_schema = \(schema)")
      #expect(try tables.first?.decode(Int64.self) == 0)
      await connection.close()
    }
  }

  @Test func concurrentRunnersApplyEachMigrationOnce() async throws {
    try await self.withRunner("concurrent") { runner, configuration in
      let applied = try await withThrowingTaskGroup(of: [Int64].self) { group in
        for _ in 0..<4 {
          group.addTask {
            let connection = try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
            let done = try await runner.migrate(on: connection)
            await connection.close()
            return done
          }
        }
        var all: [Int64] = []
        for try await done in group { all += done }
        return all
      }
      #expect(applied.sorted() == [1, 2])
    }
  }

  @Test(arguments: ["Bad", "1abc", "a-b", "x; DROP TABLE y", ""])
  func invalidSchemaNamesAreRejected(_ name: String) {
    #expect(throws: MigrationRunner.Failure.self) {
      try MigrationRunner(schema: name, migrations: [], logger: testLogger)
    }
  }
}

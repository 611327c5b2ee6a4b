import Foundation
import Migrations
import Postgres
import PostgresTestSupport
import SuiteDatabase
import Testing

@Suite("suite-db migrate")
struct MigrationCommandTests {
  /// A small example set, registered for these tests only (no service exists yet).
  static let example = [
    Migration(version: 1, name: "create_notes", up: "CREATE TABLE notes (id bigint PRIMARY KEY);", down: "DROP TABLE notes;"),
    Migration(version: 2, name: "add_body", up: "ALTER TABLE notes ADD COLUMN body text;", down: "ALTER TABLE notes DROP COLUMN body;"),
  ]

  static func withDirectory(_ files: [String: String], _ body: (String) throws -> Void) throws {
    let directory = NSTemporaryDirectory() + "migrations-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    for (name, text) in files {
      try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }
    try body(directory)
  }

  @Test func loadsAFolderOfUpAndDownFilesInVersionOrder() throws {
    try Self.withDirectory([
      "0010_add_body.up.sql": "ALTER TABLE notes ADD COLUMN body text;",
      "0010_add_body.down.sql": "ALTER TABLE notes DROP COLUMN body;",
      "0002_create_notes.up.sql": "CREATE TABLE notes (id bigint PRIMARY KEY);",
      "0002_create_notes.down.sql": "DROP TABLE notes;",
      "README.md": "ignored",
    ]) { (directory: String) throws in
      let migrations = try MigrationFiles.load(directory: directory)
      #expect(migrations.map(\.version) == [2, 10])
      #expect(migrations.map(\.name) == ["create_notes", "add_body"])
      #expect(migrations[0].down == "DROP TABLE notes;")
    }
  }

  @Test(arguments: [
    ["0001_a.up.sql": "SELECT 1;"],
    ["0001_a.down.sql": "SELECT 1;"],
    ["a_b.up.sql": "", "a_b.down.sql": ""],
    ["0001_a.up.sql": "", "0001_a.down.sql": "", "1_b.up.sql": "", "1_b.down.sql": ""],
  ])
  func rejectsIncompleteOrBadlyNamedFolders(_ files: [String: String]) throws {
    try Self.withDirectory(files) { (directory: String) throws in
      #expect(throws: MigrationFiles.Failure.self) { try MigrationFiles.load(directory: directory) }
    }
  }

  @Test func findsAServicesSetByNameOrExplainsWhatToDo() throws {
    let registry = MigrationSets(["example": Self.example])
    #expect(try MigrationCommand.migrations(service: "example", directory: nil, registry: registry) == Self.example)
    let error = #expect(throws: MigrationCommand.Failure.self) {
      try MigrationCommand.migrations(service: "identity", directory: nil, registry: registry)
    }
    #expect(error?.description.contains("--dir") == true)
  }

  @Test func findsTheServicesURL() throws {
    try Self.withDirectory(["secrets.env": "ORDERS_DATABASE_URL='postgres://from-file'\n"]) { (directory: String) throws in
      let file = directory + "/secrets.env"
      #expect(try MigrationCommand.databaseURL(service: "orders", explicit: "postgres://x", environment: [:], secretsFile: file) == "postgres://x")
      #expect(try MigrationCommand.databaseURL(service: "orders", explicit: nil, environment: ["ORDERS_DATABASE_URL": "postgres://env"], secretsFile: file) == "postgres://env")
      #expect(try MigrationCommand.databaseURL(service: "orders", explicit: nil, environment: [:], secretsFile: file) == "postgres://from-file")
      #expect(try MigrationCommand.databaseURL(service: "identity", explicit: nil, environment: ["DATABASE_URL": "postgres://any"], secretsFile: file) == "postgres://any")
      #expect(throws: MigrationCommand.Failure.self) {
        try MigrationCommand.databaseURL(service: "identity", explicit: nil, environment: [:], secretsFile: file)
      }
    }
  }

  @Test func statusUpAndDown() async throws {
    try await withTestSchema("command") { configuration in
      let schema = try #require(configuration.searchPath?.first)
      let runner = try MigrationRunner(schema: schema, migrations: Self.example, logger: testLogger)
      let connection = try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
      let empty = try await MigrationCommand.run(.status, runner: runner, on: connection)
      #expect(empty.hasPrefix("Schema \(schema): current version 0\n"))
      #expect(empty.contains("1        pending  -           create_notes"))
      #expect(try await MigrationCommand.run(.up, runner: runner, on: connection)
        == "Applied 1, 2 to schema \(schema); current version 2.\n")
      #expect(try await MigrationCommand.run(.up, runner: runner, on: connection)
        == "Schema \(schema) is up to date at version 2.\n")
      let status = try await MigrationCommand.run(.status, runner: runner, on: connection)
      #expect(status.contains("current version 2"))
      #expect(status.split(separator: "\n").filter { $0.contains(" applied ") }.count == 2)
      #expect(try await MigrationCommand.run(.down, runner: runner, on: connection)
        == "Rolled back 2 (add_body) in schema \(schema); current version 1.\n")
      #expect(try await MigrationCommand.run(.down, runner: runner, on: connection)
        == "Rolled back 1 (create_notes) in schema \(schema); current version 0.\n")
      #expect(try await MigrationCommand.run(.down, runner: runner, on: connection)
        == "Nothing to roll back in schema \(schema).\n")
      await connection.close()
    }
  }
}

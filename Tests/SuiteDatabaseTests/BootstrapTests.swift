import Foundation
import Logging
import Migrations
import Postgres
import PostgresTestSupport
import Synchronization
import SuiteDatabase
import Testing

/// Bootstrap against the real throwaway cluster. Roles are global to a cluster, so each test
/// uses its own database and schema names `b<random>_<service>` (roles `..._svc`) and drops
/// them at the end.
@Suite("Bootstrap")
struct BootstrapTests {
  struct Fixture {
    var admin: PostgresConfiguration
    var options: DatabaseBootstrap.Options
    var prefix: String
    var directory: String
    var logs: LogCapture
    var logger: Logger
    func schema(_ service: String) -> String { "\(self.prefix)_\(service)" }
    func bootstrap() async throws -> DatabaseBootstrap.Report {
      try await DatabaseBootstrap(options: self.options, logger: self.logger).run(admin: self.admin)
    }
    func connect(_ url: String) async throws -> PostgresConnection {
      try await PostgresConnection.connect(configuration: try PostgresConfiguration(parsing: url), logger: testLogger)
    }
    func adminConnection() async throws -> PostgresConnection {
      var configuration = self.admin
      configuration.database = self.options.database
      return try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
    }
  }

  static func withFixture(
    environment: (String) -> [String: String] = { _ in [:] },
    _ body: (Fixture) async throws -> Void
  ) async throws {
    let admin = try await TestCluster.shared.adminConfiguration()
    let prefix = "b\(UInt32.random(in: 0...UInt32.max))"
    let directory = NSTemporaryDirectory() + "suite-db-test-\(prefix)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var options = DatabaseBootstrap.Options()
    options.database = "\(prefix)_suite"
    options.schemas = ["identity", "catalog", "orders"].map { "\(prefix)_\($0)" }
    options.secretsFile = directory + "/data/db-secrets.env"
    options.environment = environment(prefix)
    let logs = LogCapture()
    var logger = Logger(label: "bootstrap-test", factory: { _ in logs })
    logger.logLevel = .trace
    let fixture = Fixture(
      admin: admin, options: options, prefix: prefix, directory: directory, logs: logs, logger: logger)
    var failure: (any Error)?
    do { try await body(fixture) } catch { failure = error }
    let connection = try await PostgresConnection.connect(configuration: admin, logger: testLogger)
    try await connection.query("DROP DATABASE IF EXISTS \(identifier: options.database) WITH (FORCE)")
    for schema in options.schemas {
      try await connection.query("DROP ROLE IF EXISTS \(identifier: DatabaseBootstrap.roleName(for: schema))")
    }
    await connection.close()
    try? FileManager.default.removeItem(atPath: directory)
    if let failure { throw failure }
  }

  /// Everything bootstrap controls, as text: roles (with password verifiers and settings),
  /// schemas (owners and ACLs), the database's ACL.
  static func snapshot(_ fixture: Fixture) async throws -> String {
    let connection = try await fixture.adminConnection()
    let pattern = fixture.prefix + "\\_%"
    let text = try await connection.query(
      """
      SELECT concat_ws(E'\\n',
        (SELECT string_agg(row_to_json(r)::text, E'\\n' ORDER BY rolname) FROM (
           SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
                  rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil,
                  (SELECT setconfig FROM pg_db_role_setting WHERE setrole = a.oid AND setdatabase = 0) AS settings
           FROM pg_authid a WHERE rolname LIKE \(pattern)) r),
        (SELECT string_agg(concat_ws(' ', nspname, pg_get_userbyid(nspowner), nspacl::text), E'\\n' ORDER BY nspname)
           FROM pg_namespace WHERE nspname LIKE \(pattern) OR nspname = 'public'),
        (SELECT concat_ws(' ', datname, pg_get_userbyid(datdba), datacl::text) FROM pg_database
           WHERE datname = current_database()))
      """)
    await connection.close()
    return try text[0].decode(String.self)
  }

  @Test func createsEverythingOnceAndASecondRunChangesNothing() async throws {
    try await Self.withFixture { fixture in
      let first = try await fixture.bootstrap()
      #expect(first.changes.contains("created database \(fixture.options.database)"))
      for schema in fixture.options.schemas {
        #expect(first.changes.contains("created role \(schema)_svc"))
        #expect(first.changes.contains("created schema \(schema) owned by \(schema)_svc"))
      }
      let secretsPath = try #require(fixture.options.secretsFile)
      let secretsBefore = try String(contentsOfFile: secretsPath, encoding: .utf8)
      let before = try await Self.snapshot(fixture)

      let second = try await fixture.bootstrap()
      #expect(second.changes == [])
      #expect(second.serviceURLs == first.serviceURLs)
      #expect(try await Self.snapshot(fixture) == before)
      #expect(try String(contentsOfFile: secretsPath, encoding: .utf8) == secretsBefore)
      #expect(fixture.logs.messages.contains { $0.contains("everything already in place") })
    }
  }

  @Test func eachRoleHasRightsOnItsOwnSchemaOnly() async throws {
    try await Self.withFixture { fixture in
      let report = try await fixture.bootstrap()
      let identitySchema = fixture.schema("identity")
      let catalogSchema = fixture.schema("catalog")
      let identity = try await fixture.connect(try #require(report.serviceURLs[identitySchema]))
      let catalog = try await fixture.connect(try #require(report.serviceURLs[catalogSchema]))

      // Its own schema is its search_path; unqualified tables land there.
      #expect(try await identity.query("SELECT current_schema()::text")[0].decode(String.self) == identitySchema)
      try await identity.query("CREATE TABLE users (id bigint PRIMARY KEY)")
      try await identity.query("INSERT INTO users VALUES (1)")
      #expect(try await identity.query("SELECT count(*)::bigint FROM \(identifier: identitySchema).users")[0].decode(Int64.self) == 1)
      try await catalog.query("CREATE TABLE items (id bigint PRIMARY KEY)")

      // Nothing in another schema, no new schemas, nothing in public, no temporary tables.
      for statement: PostgresQuery in [
        "SELECT * FROM \(identifier: catalogSchema).items",
        "CREATE TABLE \(identifier: catalogSchema).sneaky (id int)",
        "CREATE SCHEMA \(identifier: fixture.prefix + "_evil")",
        "CREATE TABLE public.sneaky (id int)",
        "CREATE TEMPORARY TABLE scratch (id int)",
      ] {
        let error = await #expect(throws: PostgresError.self, "\(statement.sql)") { try await identity.query(statement) }
        #expect(error?.serverInfo?.sqlState == "42501", "\(statement.sql)")
      }
      let denied = await #expect(throws: PostgresError.self) {
        try await catalog.query("SELECT * FROM \(identifier: identitySchema).users")
      }
      #expect(denied?.serverInfo?.sqlState == "42501")

      // PUBLIC: no CONNECT, CREATE or TEMP on the database, no CREATE on schema public.
      let admin = try await fixture.adminConnection()
      let publicRights = try await admin.query(
        """
        SELECT has_database_privilege('public', current_database(), 'CONNECT'),
               has_database_privilege('public', current_database(), 'CREATE'),
               has_database_privilege('public', current_database(), 'TEMP'),
               has_schema_privilege('public', 'public', 'CREATE')
        """
      )[0].decode((Bool, Bool, Bool, Bool).self)
      #expect(publicRights == (false, false, false, false))
      let attributes = try await admin.query(
        """
        SELECT bool_or(rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls OR NOT rolcanlogin)
        FROM pg_roles WHERE rolname LIKE \(fixture.prefix + "\\_%\\_svc")
        """)
      #expect(try attributes[0].decode(Bool.self) == false)
      for connection in [identity, catalog, admin] { await connection.close() }
    }
  }

  @Test func passwordsComeFromTheEnvironmentOrAPrivateFileAndAreNeverLogged() async throws {
    let tricky = #"p@ss:w/rd'"; DROP ROLE postgres; -- %41"#
    try await Self.withFixture(environment: { prefix in [DatabaseBootstrap.passwordKey(for: "\(prefix)_orders"): tricky] }) { fixture in
      let report = try await fixture.bootstrap()
      let secretsPath = try #require(fixture.options.secretsFile)
      let mode = try #require(try FileManager.default.attributesOfItem(atPath: secretsPath)[.posixPermissions] as? Int)
      #expect(mode == 0o600)
      let secrets = try SecretsFile(path: secretsPath)
      let orders = fixture.schema("orders")
      #expect(secrets[DatabaseBootstrap.passwordKey(for: orders)] == tricky)
      let generated = try #require(secrets[DatabaseBootstrap.passwordKey(for: fixture.schema("identity"))])
      #expect(generated.count == 48 && generated.allSatisfy(\.isHexDigit))
      for schema in fixture.options.schemas {
        #expect(secrets[DatabaseBootstrap.urlKey(for: schema)] == report.serviceURLs[schema])
      }

      // The tricky password survives the URL and logs in; the server holds only a SCRAM verifier.
      let connection = try await fixture.connect(try #require(report.serviceURLs[orders]))
      #expect(try await connection.query("SELECT current_user::text")[0].decode(String.self) == "\(orders)_svc")
      await connection.close()
      let admin = try await fixture.adminConnection()
      let verifiers = try await admin.query(
        "SELECT rolpassword FROM pg_authid WHERE rolname LIKE \(fixture.prefix + "\\_%")"
      ).decode(String.self)
      #expect(verifiers.count == 3 && verifiers.allSatisfy { $0.hasPrefix("SCRAM-SHA-256$4096:") })
      await admin.close()

      let passwords = secrets.values.filter { $0.key.hasSuffix("_DB_PASSWORD") }.map(\.value)
      #expect(!fixture.logs.messages.isEmpty)
      for password in passwords {
        #expect(!fixture.logs.messages.contains { $0.contains(password) })
      }
    }
  }

  @Test func aLostSecretsFileRotatesPasswordsAndATooOpenOneIsNarrowed() async throws {
    try await Self.withFixture { fixture in
      let first = try await fixture.bootstrap()
      let secretsPath = try #require(fixture.options.secretsFile)
      try FileManager.default.removeItem(atPath: secretsPath)
      let second = try await fixture.bootstrap()
      for schema in fixture.options.schemas {
        #expect(second.changes.contains("set the password of role \(schema)_svc"))
        #expect(second.serviceURLs[schema] != first.serviceURLs[schema])
        let connection = try await fixture.connect(try #require(second.serviceURLs[schema]))
        await connection.close()
      }
      #expect(chmod(secretsPath, 0o644) == 0)
      let third = try await fixture.bootstrap()
      #expect(third.changes == [])
      let mode = try #require(try FileManager.default.attributesOfItem(atPath: secretsPath)[.posixPermissions] as? Int)
      #expect(mode == 0o600)
    }
  }

  @Test func migrationsRunAsTheServiceRoleEvenForAnAdministrator() async throws {
    try await Self.withFixture { fixture in
      _ = try await fixture.bootstrap()
      let schema = fixture.schema("orders")
      let migrations = [
        Migration(version: 1, name: "create_orders", up: "CREATE TABLE orders (id bigint PRIMARY KEY);", down: "DROP TABLE orders;")
      ]
      let runner = try MigrationRunner(
        schema: schema, migrations: migrations, role: DatabaseBootstrap.roleName(for: schema), logger: testLogger)
      let admin = try await fixture.adminConnection()
      #expect(try await runner.migrate(on: admin) == [1])
      let owners = try await admin.query(
        """
        SELECT tableowner::text FROM pg_tables WHERE schemaname = \(schema) ORDER BY tablename
        """
      ).decode(String.self)
      #expect(owners == ["\(schema)_svc", "\(schema)_svc"])
      // The session is back to the administrator afterwards.
      #expect(try await admin.query("SELECT current_user::text")[0].decode(String.self) == fixture.admin.user)
      await admin.close()
    }
  }

  @Test func invalidNamesAreRejectedBeforeAnythingRuns() {
    var options = DatabaseBootstrap.Options()
    options.schemas = ["identity", "Catalog; DROP"]
    #expect(throws: DatabaseBootstrap.Failure.self) { try DatabaseBootstrap(options: options, logger: testLogger) }
  }

  @Test func urlsArePercentEncoded() throws {
    var configuration = PostgresConfiguration(host: "/tmp/pg dir", port: 5432, user: "a_svc", password: "p@ss:/w'%", database: "suite")
    #expect(DatabaseBootstrap.url(for: configuration) == "postgres://a_svc:p%40ss%3A%2Fw%27%25@%2Ftmp%2Fpg%20dir:5432/suite")
    let parsed = try PostgresConfiguration(parsing: DatabaseBootstrap.url(for: configuration))
    #expect(parsed.host == configuration.host && parsed.password == configuration.password && parsed.user == configuration.user)
    configuration.host = "::1"
    configuration.sslMode = .require
    #expect(DatabaseBootstrap.url(for: configuration) == "postgres://a_svc:p%40ss%3A%2Fw%27%25@[::1]:5432/suite?sslmode=require")
  }
}

/// Collects every log message with its metadata, to check what is (not) logged.
final class LogCapture: LogHandler, Sendable {
  private let storage = Mutex<[String]>([])
  var messages: [String] { self.storage.withLock { $0 } }

  var metadata: Logger.Metadata {
    get { [:] }
    set {}
  }
  var logLevel: Logger.Level {
    get { .trace }
    set {}
  }
  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { nil }
    set {}
  }

  func log(event: LogEvent) {
    self.storage.withLock { $0.append("\(event.message) \(event.metadata ?? [:])") }
  }
}

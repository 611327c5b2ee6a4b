import ArgumentParser
import Foundation
import Logging
import Migrations
import Postgres

/// Database administration for the suite: bootstrap and per-schema migrations.
@main
struct SuiteDB: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "suite-db",
    abstract: "Creates the suite's database, schemas and roles, and runs schema migrations.",
    subcommands: [Bootstrap.self, Migrate.self]
  )
}

/// The services that own a schema, each reached with its own login role `<name>_svc`.
let serviceSchemas = ["identity", "catalog", "orders", "pipelines", "monitoring"]

func makeLogger() -> Logger {
  var logger = Logger(label: "suite-db", factory: { StreamLogHandler.standardError(label: $0) })
  logger.logLevel = .info
  return logger
}

struct Bootstrap: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Creates the database, one schema and one least-privilege login role per service.",
    discussion: """
      Idempotent. Each role <service>_svc owns only its schema, has it as search_path, and gets
      CONNECT on the database; PUBLIC loses CONNECT on the database and CREATE on schema public.
      Passwords: <SERVICE>_DB_PASSWORD from the environment, else the secrets file (created with
      random passwords, mode 0600). Prints each service's DATABASE_URL to the secrets file only.
      """
  )

  @Option(help: "Superuser URL of the server (its database is only used to create the suite's).")
  var databaseURL: String

  @Option(help: "Name of the suite's database.")
  var database = "suite"

  @Option(help: "File holding the service roles' passwords (KEY=VALUE lines).")
  var secretsFile = "data/db-secrets.env"

  func run() async throws {
    let logger = makeLogger()
    var admin = try PostgresConfiguration(parsing: self.databaseURL)
    let connection = try await PostgresConnection.connect(configuration: admin, logger: logger)
    let exists = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(self.database)")
    if exists.isEmpty {
      try await connection.query("CREATE DATABASE \(identifier: self.database)")
      logger.info("Created database", metadata: ["db.name": "\(self.database)"])
    }
    await connection.close()

    admin.database = self.database
    let suite = try await PostgresConnection.connect(configuration: admin, logger: logger)
    defer { Task { await suite.close() } }
    var secrets = try Secrets(path: self.secretsFile)
    try await suite.query("REVOKE ALL ON DATABASE \(identifier: self.database) FROM PUBLIC")
    try await suite.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    for schema in serviceSchemas {
      let role = "\(schema)_svc"
      let password = secrets.password(for: role)
      let hasRole = try await suite.query("SELECT 1 FROM pg_roles WHERE rolname = \(role)")
      // Role DDL takes no parameters: the server builds the statement with format(), which
      // quotes the name (%I) and the password (%L), so no value is spliced into SQL here.
      let verb = hasRole.isEmpty ? "CREATE" : "ALTER"
      let statement = try await suite.query(
        "SELECT format(\(verb + " ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L"), \(role)::text, \(password)::text)")
      try await suite.executeScript(PostgresQuery(unsafeSQL: try statement[0].decode(String.self)))
      try await suite.query("GRANT CONNECT ON DATABASE \(identifier: self.database) TO \(identifier: role)")
      try await suite.query("CREATE SCHEMA IF NOT EXISTS \(identifier: schema) AUTHORIZATION \(identifier: role)")
      try await suite.query("ALTER SCHEMA \(identifier: schema) OWNER TO \(identifier: role)")
      try await suite.query("REVOKE ALL ON SCHEMA \(identifier: schema) FROM PUBLIC")
      try await suite.query("ALTER ROLE \(identifier: role) SET search_path = \(identifier: schema)")
      secrets.setURL(
        for: schema,
        "postgres://\(role):\(password)@\(admin.host ?? "127.0.0.1"):\(admin.port ?? 5432)/\(self.database)")
      logger.info("Schema and role ready", metadata: ["db.schema": "\(schema)", "db.role": "\(role)"])
    }
    try secrets.save()
  }
}

/// Service role passwords and URLs, kept in a KEY=VALUE file readable by its owner only.
struct Secrets {
  let path: String
  private var values: [String: String] = [:]

  init(path: String) throws {
    self.path = path
    if let text = try? String(contentsOfFile: path, encoding: .utf8) {
      for line in text.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1)
        if parts.count == 2 { self.values[String(parts[0])] = String(parts[1]) }
      }
    }
  }

  mutating func password(for role: String) -> String {
    let key = role.uppercased().replacingOccurrences(of: "_SVC", with: "") + "_DB_PASSWORD"
    if let fromEnvironment = ProcessInfo.processInfo.environment[key], !fromEnvironment.isEmpty {
      return fromEnvironment
    }
    if let known = self.values[key] { return known }
    var generator = SystemRandomNumberGenerator()
    let password = (0..<24).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16) }.joined()
    self.values[key] = password
    return password
  }

  mutating func setURL(for schema: String, _ url: String) {
    self.values[schema.uppercased() + "_DATABASE_URL"] = url
  }

  func save() throws {
    let directory = (self.path as NSString).deletingLastPathComponent
    if !directory.isEmpty {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    let text = self.values.keys.sorted().map { "\($0)=\(self.values[$0]!)" }.joined(separator: "\n") + "\n"
    FileManager.default.createFile(atPath: self.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: self.path)
  }
}

struct Migrate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Shows, applies or rolls back one step of a schema's migrations.",
    discussion: """
      Migrations are read from --dir: files NNNN_name.up.sql and NNNN_name.down.sql. Services
      carry their own migrations and apply them at start-up with the same runner.
      """
  )

  enum Action: String, ExpressibleByArgument, CaseIterable {
    case status, up, down
  }

  @Argument(help: "status (history and current version), up (apply pending) or down (roll back one).")
  var action: Action

  @Option(help: "URL of the server, as the schema's owner role.")
  var databaseURL: String

  @Option(help: "The schema, such as identity.")
  var schema: String

  @Option(help: "Folder of NNNN_name.up.sql / NNNN_name.down.sql files.")
  var dir: String

  func run() async throws {
    let logger = makeLogger()
    let runner = try MigrationRunner(schema: self.schema, migrations: try Self.load(self.dir), logger: logger)
    let connection = try await PostgresConnection.connect(
      configuration: try PostgresConfiguration(parsing: self.databaseURL), logger: logger)
    defer { Task { await connection.close() } }
    switch self.action {
    case .status:
      for entry in try await runner.status(on: connection) {
        print("\(entry.version)\t\(entry.state.rawValue)\t\(entry.name)")
      }
      print("current version: \(try await runner.currentVersion(on: connection))")
    case .up:
      let applied = try await runner.migrate(on: connection)
      print(applied.isEmpty ? "up to date" : "applied: \(applied.map(String.init).joined(separator: ", "))")
    case .down:
      let undone = try await runner.rollBackOne(on: connection)
      print(undone.map { "rolled back: \($0.version) \($0.name)" } ?? "nothing to roll back")
    }
  }

  static func load(_ directory: String) throws -> [Migration] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".up.sql") }
    return try names.compactMap { file -> Migration? in
      let stem = String(file.dropLast(".up.sql".count))
      guard let underscore = stem.firstIndex(of: "_"), let version = Int64(stem[..<underscore]) else {
        throw ValidationError("Migration file '\(file)' must be named NNNN_name.up.sql.")
      }
      let up = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
      let down = (try? String(contentsOfFile: directory + "/" + stem + ".down.sql", encoding: .utf8)) ?? ""
      return Migration(version: version, name: String(stem[stem.index(after: underscore)...]), up: up, down: down)
    }.sorted { $0.version < $1.version }
  }
}

public import ArgumentParser
import Foundation
import CatalogSchema
import IdentitySchema
import Logging
import Migrations
import Postgres
public import SuiteDatabase

/// Database administration for the suite: bootstrap and per-service migrations.
@main
struct SuiteDB: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "suite-db",
    abstract: "Creates the suite's database, schemas and roles, and runs schema migrations.",
    discussion: """
      Environment: LOG_LEVEL (trace, debug, info, notice, warning, error; default info).
      Progress goes to stderr, results to stdout. Passwords are never printed or logged.
      """,
    subcommands: [Bootstrap.self, Migrate.self]
  )
}

/// The migration sets compiled into suite-db: each service's schema module (its SQL files, not
/// the service), one entry per service. `migrate --dir` reads SQL files from a folder instead.
let compiledInMigrations = MigrationSets(["identity": IdentityMigrations.all, "catalog": CatalogMigrations.all])

func makeLogger() -> Logger {
  var logger = Logger(label: "suite-db", factory: { StreamLogHandler.standardError(label: $0) })
  let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) }
  logger.logLevel = level ?? .info
  return logger
}

struct Bootstrap: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Creates the database, one schema and one least-privilege login role per service.",
    discussion: """
      Idempotent: a second run changes nothing. For each schema S of \
      \(DatabaseBootstrap.serviceSchemas.joined(separator: ", ")): role S_svc (LOGIN, nothing \
      else) owns S, has search_path S and CONNECT on the database; PUBLIC loses every right on \
      the database and CREATE on schema public.

      Passwords: S_DB_PASSWORD from the environment (uppercase, e.g. IDENTITY_DB_PASSWORD), else \
      the secrets file, else generated. The secrets file (mode 0600) then holds every S_DB_PASSWORD \
      and S_DATABASE_URL. Roles get a SCRAM-SHA-256 verifier computed here: the clear password is \
      never sent to the server.
      """
  )

  @Option(help: "URL of a superuser (or CREATEDB + CREATEROLE role). Default: $DATABASE_URL.")
  var databaseURL: String?

  @Option(help: "Name of the suite's database.")
  var database = "suite"

  @Option(help: "File that keeps the service roles' passwords and URLs (mode 0600).")
  var secretsFile = "data/db-secrets.env"

  var url: String? { self.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] }

  func validate() throws {
    guard let url = self.url, !url.isEmpty else {
      throw ValidationError("Give --database-url or set DATABASE_URL.")
    }
  }

  func run() async throws {
    let logger = makeLogger()
    let url = self.url ?? ""
    var options = DatabaseBootstrap.Options()
    options.database = self.database
    options.secretsFile = self.secretsFile
    let bootstrap = try DatabaseBootstrap(options: options, logger: logger)
    let report = try await bootstrap.run(admin: try PostgresConfiguration(parsing: url))
    print(report.changes.isEmpty ? "Database \(self.database): nothing to change." : "Database \(self.database): \(report.changes.count) change(s).")
    print("Service URLs (with passwords) are in \(self.secretsFile) as <SCHEMA>_DATABASE_URL.")
  }
}

struct Migrate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Shows a service schema's migration history, applies pending ones, or rolls back one.",
    discussion: """
      The service's schema has its name. Migrations come from --dir (files NNNN_name.up.sql and \
      NNNN_name.down.sql) or, without it, from the set compiled into suite-db for the service \
      (\(compiledInMigrations.services.joined(separator: ", "))). Services apply their own migrations at start-up with the \
      same runner. Everything runs in one transaction under the schema's advisory lock, as the \
      role S_svc (SET LOCAL ROLE), so objects belong to the service even when an administrator \
      runs this.

      Server: --database-url, else S_DATABASE_URL from the environment, else from the secrets \
      file, else DATABASE_URL.
      """
  )

  @Argument(help: "status (history and current version), up (apply pending) or down (roll back one step).")
  var action: MigrationCommand.Action

  @Option(help: "The service, which is also its schema: identity, catalog, orders, pipelines, monitoring.")
  var service: String

  @Option(help: "Folder of NNNN_name.up.sql / NNNN_name.down.sql files.")
  var dir: String?

  @Option(help: "URL of the server.")
  var databaseURL: String?

  @Option(help: "Secrets file written by bootstrap, for the service's URL.")
  var secretsFile = "data/db-secrets.env"

  @Option(help: "Role to run as (SET LOCAL ROLE). Default: <service>_svc; give '' to keep the login role.")
  var role: String?

  func run() async throws {
    let logger = makeLogger()
    let migrations = try MigrationCommand.migrations(service: self.service, directory: self.dir, registry: compiledInMigrations)
    let role = self.role ?? DatabaseBootstrap.roleName(for: self.service)
    let runner = try MigrationRunner(
      schema: self.service, migrations: migrations, role: role.isEmpty ? nil : role, logger: logger)
    let url = try MigrationCommand.databaseURL(
      service: self.service, explicit: self.databaseURL,
      environment: ProcessInfo.processInfo.environment, secretsFile: self.secretsFile)
    let connection = try await PostgresConnection.connect(configuration: try PostgresConfiguration(parsing: url), logger: logger)
    do {
      print(try await MigrationCommand.run(self.action, runner: runner, on: connection), terminator: "")
      await connection.close()
    } catch {
      await connection.close()
      throw error
    }
  }
}

extension MigrationCommand.Action: ExpressibleByArgument {}

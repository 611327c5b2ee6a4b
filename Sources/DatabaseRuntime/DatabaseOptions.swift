public import ArgumentParser
public import Logging
public import Migrations
public import Postgres
public import ServiceRuntime

/// `--database-url`, falling back to `DATABASE_URL`: the PostgreSQL server and the service's
/// own role (ARCHITECTURE.md's conventions).
public struct DatabaseOptions: ParsableArguments, Sendable {
  @Option(help: "PostgreSQL URL of this service's role (default: DATABASE_URL).")
  public var databaseURL: String?

  public init() {}

  /// The connection configuration for the service `name` (its `application_name`), or the one
  /// line that says what is missing or wrong.
  public func configuration(for name: String) throws(StartupError) -> PostgresConfiguration {
    guard let url = self.databaseURL.flatMap({ $0.isEmpty ? nil : $0 }) ?? Environment.value("DATABASE_URL") else {
      throw StartupError(message: "Set DATABASE_URL or --database-url (the \(name) role's URL; see `make run`).")
    }
    do {
      var configuration = try PostgresConfiguration(parsing: url)
      configuration.applicationName = name
      return configuration
    } catch {
      throw StartupError(message: "DATABASE_URL is not a valid PostgreSQL URL or connection string.")
    }
  }
}

/// A service's own schema: where its database options point and the migrations that build it.
public struct ServiceDatabase: Sendable {
  public var options: DatabaseOptions
  /// The schema the service owns (and its role may touch), such as `catalog`.
  public var schema: String
  public var migrations: [Migration]
  /// Pool settings other than the connection; the defaults unless a service says otherwise.
  public var configure: @Sendable (inout PostgresPool.Configuration) -> Void

  public init(
    _ options: DatabaseOptions, schema: String, migrations: [Migration],
    configure: @escaping @Sendable (inout PostgresPool.Configuration) -> Void = { _ in }
  ) {
    self.options = options
    self.schema = schema
    self.migrations = migrations
    self.configure = configure
  }

  /// A pool for the service `name`, not yet connected.
  public func makePool(name: String, logger: Logger) throws(StartupError) -> PostgresPool {
    var configuration = PostgresPool.Configuration(connection: try self.options.configuration(for: name))
    self.configure(&configuration)
    return PostgresPool(configuration: configuration, logger: logger)
  }

  /// Applies the pending migrations of the schema through `pool`.
  public func migrate(using pool: PostgresPool, logger: Logger) async throws(StartupError) {
    do {
      let runner = try MigrationRunner(schema: self.schema, migrations: self.migrations, logger: logger)
      _ = try await runner.migrate(using: pool)
    } catch {
      throw StartupError(message: "Cannot prepare the \(self.schema) schema: \(error)")
    }
  }

  /// Runs `body` with a pool on the migrated schema (for one-shot commands such as
  /// `identity bootstrap`), and closes the pool however `body` ends.
  public func withMigratedPool<Result>(
    name: String, logger: Logger, _ body: (PostgresPool) async throws -> Result
  ) async throws -> Result {
    let pool = try self.makePool(name: name, logger: logger)
    do {
      try await self.migrate(using: pool, logger: logger)
      let result = try await body(pool)
      await pool.close()
      return result
    } catch {
      await pool.close()
      throw error
    }
  }
}

import ArgumentParser
import Auth
import CatalogSchema
import CatalogService
import Logging
import Migrations
import Postgres
import RPCCore
import RPCHTTP2
import ServiceKit

#if canImport(Glibc)
import Glibc
#endif

/// The catalog service executable.
@main
struct CatalogCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "catalog",
    abstract: "Products, categories, locations, stock, reservations and catalog events.",
    discussion: """
      Environment: DATABASE_URL (the catalog role's PostgreSQL URL), IDENTITY_ADDRESS (HOST:PORT
      of identity, whose published keys verify access tokens) or AUTH_PUBLIC_KEYS
      (kid=base64url,... fixed Ed25519 keys), LOG_LEVEL.
      Logs are JSON lines on stderr; one line says when the server is ready and where.
      SIGTERM or SIGINT drains in-flight calls and exits 0.
      """)

  @Option(help: "PostgreSQL URL of the catalog role (default: DATABASE_URL).")
  var databaseURL: String?

  @OptionGroup var server: ServerOptions

  @Option(help: "HOST:PORT of the identity service (default: IDENTITY_ADDRESS).")
  var identityAddress: String?

  @Option(help: "Seconds between sweeps of expired reservations.")
  var sweepInterval: Double = 1

  func validate() throws {
    guard self.sweepInterval > 0 else { throw ValidationError("--sweep-interval must be positive.") }
  }

  static func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
  }

  func run() async throws {
    LoggingSystem.bootstrap(JSONLogHandler.init)
    let logger = Logger(label: "catalog")
    let address =
      self.server.address(defaultPort: 50052)
    let keys = try ServiceAuthentication.keys(
      identityAddress: self.identityAddress ?? Self.environment("IDENTITY_ADDRESS"),
      publicKeys: Self.environment("AUTH_PUBLIC_KEYS"))
    guard let url = self.databaseURL ?? Self.environment("DATABASE_URL") else {
      throw StartupError(message: "Set DATABASE_URL or --database-url (the catalog role's URL; see `make run`).")
    }
    var connection: PostgresConfiguration
    do {
      connection = try PostgresConfiguration(parsing: url)
    } catch {
      throw StartupError(message: "DATABASE_URL is not a valid PostgreSQL URL or connection string.")
    }
    connection.applicationName = "catalog"
    let pool = PostgresPool(configuration: PostgresPool.Configuration(connection: connection), logger: logger)
    do {
      let runner = try MigrationRunner(schema: "catalog", migrations: CatalogMigrations.all, logger: logger)
      _ = try await runner.migrate(using: pool)
    } catch {
      await pool.close()
      throw StartupError(message: "Cannot prepare the catalog schema: \(error)")
    }
    let context = CatalogContext(pool: pool, logger: logger)
    let sweeper = ReservationSweeper(context: context, interval: .milliseconds(Int64(self.sweepInterval * 1000)))
    let services = CatalogServer.services(context: context)
    let authentication = try AuthenticationInterceptor(
      verifier: AccessTokenVerifier(keys: keys, issuer: "identity"), services: services)
    // API keys are exchanged at identity when its address is known.
    var interceptors: [any ServerInterceptor] = []
    if let identity = (self.identityAddress ?? Self.environment("IDENTITY_ADDRESS")).flatMap(ListenAddress.init(parsing:)) {
      interceptors.append(ApiKeyExchangeInterceptor(identity: identity))
    }
    interceptors.append(authentication)
    let drain = self.server.drain
    let configuration = self.server.serverConfiguration()
    do {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await sweeper.run() }
        try await ServerRunner.run(
          name: "catalog", address: address, services: services,
          interceptors: interceptors, configuration: configuration, drainTimeout: drain, logger: logger)
        group.cancelAll()
      }
    } catch {
      await pool.close()
      throw error
    }
    await pool.close()
  }
}

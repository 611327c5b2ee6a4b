import ArgumentParser
import CatalogSchema
import CatalogService
import DatabaseRuntime
import ServiceKit
import ServiceRuntime

/// The catalog service executable: its schema, its services, its sweeper; ServiceHost does the rest.
@main
struct CatalogCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "catalog", abstract: "Products, categories, locations, stock, reservations and catalog events.",
    discussion: ServerOptions.discussion(environment: """
      DATABASE_URL (the catalog role's PostgreSQL URL), IDENTITY_ADDRESS (HOST:PORT of identity, whose \
      published keys verify access tokens) or AUTH_PUBLIC_KEYS (kid=base64url,... fixed Ed25519 keys), LOG_LEVEL
      """))

  @OptionGroup var server: ServerOptions
  @OptionGroup var database: DatabaseOptions
  @OptionGroup var identity: IdentityClientOptions
  @Option(help: "Seconds between sweeps of expired reservations.") var sweepInterval: Double = 1

  func validate() throws {
    guard self.sweepInterval > 0 else { throw ValidationError("--sweep-interval must be positive.") }
  }

  func run() async throws {
    try await ServiceHost(
      name: "catalog", defaultPort: 50052, server: self.server,
      database: ServiceDatabase(self.database, schema: "catalog", migrations: CatalogMigrations.all),
      authentication: .identityTokens(self.identity)
    ).run { [sweepInterval = Duration.seconds(self.sweepInterval)] host in
      let context = CatalogContext(pool: host.pool, logger: host.logger)
      let sweeper = ReservationSweeper(context: context, interval: sweepInterval)
      let worker = BackgroundWorker("reservation-sweeper") { await sweeper.run() }
      return HostedService(services: CatalogServer.services(context: context), workers: [worker])
    }
  }
}

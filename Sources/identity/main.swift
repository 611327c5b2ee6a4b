import ArgumentParser
import Auth
import IdentitySchema
import IdentityService
import Logging
import Migrations
import Postgres
import RPCHTTP2
import ServiceKit

#if canImport(Glibc)
import Glibc
#endif

/// The identity service executable.
@main
struct IdentityCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "identity",
    abstract: "Tenants, users, sessions and access tokens, signing keys and the audit log.",
    subcommands: [Serve.self, Bootstrap.self],
    defaultSubcommand: Serve.self)
}

/// Options every subcommand shares.
struct DatabaseOptions: ParsableArguments {
  @Option(help: "PostgreSQL URL of the identity role (default: DATABASE_URL).")
  var databaseURL: String?

  func configuration() throws -> PostgresConfiguration {
    guard let url = self.databaseURL ?? getenv("DATABASE_URL").map({ String(cString: $0) }), !url.isEmpty else {
      throw ValidationError("Set DATABASE_URL or --database-url (the identity role's URL; see `make run`).")
    }
    do {
      var configuration = try PostgresConfiguration(parsing: url)
      configuration.applicationName = "identity"
      return configuration
    } catch {
      throw ValidationError("DATABASE_URL is not a valid PostgreSQL URL or connection string.")
    }
  }

  /// The seed key from IDENTITY_SEED_KEY (32 bytes, base64url), if set.
  func seedBox() throws -> SecretBox? {
    guard let text = getenv("IDENTITY_SEED_KEY").map({ String(cString: $0) }), !text.isEmpty else { return nil }
    guard let key = Base64URL.decode(text), let box = try? SecretBox(key: key) else {
      throw ValidationError("IDENTITY_SEED_KEY must be 32 bytes in unpadded base64url.")
    }
    return box
  }

  /// Opens the pool and applies pending migrations of the identity schema.
  func openMigrated(logger: Logger) async throws -> PostgresPool {
    let configuration = try self.configuration()
    let pool = PostgresPool(configuration: PostgresPool.Configuration(connection: configuration), logger: logger)
    do {
      let runner = try MigrationRunner(schema: "identity", migrations: IdentityMigrations.all, logger: logger)
      _ = try await runner.migrate(using: pool)
    } catch {
      await pool.close()
      throw StartupError(message: "Cannot prepare the identity schema: \(error)")
    }
    return pool
  }
}

struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Serves identity.v1 (the default).",
    discussion: """
      Environment: DATABASE_URL (the identity role's PostgreSQL URL), IDENTITY_SEED_KEY (32 bytes,
      base64url: seals the signing-key seeds at rest), IDENTITY_TRUSTED_PROXIES (comma-separated
      IP addresses, such as the gateway's, whose x-forwarded-for names the client for the
      per-address login throttle), LOG_LEVEL.
      Logs are JSON lines on stderr; one line says when the server is ready and where.
      SIGTERM or SIGINT drains in-flight calls and exits 0.
      """)

  @OptionGroup var database: DatabaseOptions

  @OptionGroup var server: ServerOptions

  @Option(help: "Access token lifetime in seconds.")
  var accessTokenSeconds: Int = 900

  func validate() throws {
    if !(30...86400).contains(self.accessTokenSeconds) {
      throw ValidationError("--access-token-seconds must be in 30...86400.")
    }
    _ = try self.database.configuration()
  }

  func run() async throws {
    LoggingSystem.bootstrap(JSONLogHandler.init)
    let logger = Logger(label: "identity")
    let address =
      self.server.address(defaultPort: 50051)
    let pool = try await self.database.openMigrated(logger: logger)
    var settings = IdentitySettings()
    settings.accessTokenLifetime = .seconds(self.accessTokenSeconds)
    settings.seedBox = try self.database.seedBox()
    if settings.seedBox == nil {
      logger.warning("IDENTITY_SEED_KEY is not set: signing-key seeds are stored unencrypted")
    }
    let context = IdentityContext(pool: pool, settings: settings, logger: logger)
    do {
      try await context.prepare()
      try await ServerRunner.run(
        name: "identity", address: address, services: IdentityServer.services(context: context),
        interceptors: [
          ClientAddressInterceptor(parsing: getenv("IDENTITY_TRUSTED_PROXIES").map { String(cString: $0) }),
          try IdentityServer.authentication(context: context),
        ],
        configuration: self.server.serverConfiguration(), drainTimeout: self.server.drain, logger: logger)
    } catch {
      await pool.close()
      throw error
    }
    await pool.close()
  }
}

struct Bootstrap: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Creates the first tenant and its admin on an empty identity database.",
    discussion: """
      The admin is a platform operator: the only kind of user that may create further tenants
      (Tenants/CreateTenant). Prints the tenant id, the admin's email and a one-time password on
      standard output as KEY=value lines. Refuses to run when a tenant exists already.
      """)

  @OptionGroup var database: DatabaseOptions

  @Option(help: "Name of the first tenant.")
  var tenantName: String

  @Option(help: "Email of the first admin.")
  var adminEmail: String

  @Option(help: "Full name of the first admin.")
  var adminFullName: String = ""

  func run() async throws {
    var logger = Logger(label: "identity-bootstrap", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .warning
    let pool = try await self.database.openMigrated(logger: logger)
    var settings = IdentitySettings()
    settings.seedBox = try self.database.seedBox()
    let context = IdentityContext(pool: pool, settings: settings, logger: logger)
    do {
      try await context.prepare()
      if try await TenantStore.anyTenantExists(context: context) {
        throw ValidationError("The identity database has tenants already; create more with Tenants/CreateTenant.")
      }
      let created = try await TenantStore.create(
        name: self.tenantName, plan: "platform", configJSON: "", adminEmail: self.adminEmail,
        adminFullName: self.adminFullName, platformOperator: true, actor: "bootstrap", context: context)
      print("TENANT_ID=\(created.tenant.id)")
      print("ADMIN_EMAIL=\(created.adminMessage.email)")
      print("ADMIN_PASSWORD=\(created.password)")
    } catch {
      await pool.close()
      throw error
    }
    await pool.close()
  }
}

import ArgumentParser
import DatabaseRuntime
import IdentitySchema
import IdentityService
import ServiceKit
import ServiceRuntime

/// The identity service executable: `serve` (the default) and `bootstrap` (Bootstrap.swift).
@main
struct IdentityCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "identity",
    abstract: "Tenants, users, sessions and access tokens, signing keys and the audit log.",
    subcommands: [Serve.self, Bootstrap.self], defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Serves identity.v1 (the default).",
    discussion: ServerOptions.discussion(environment: IdentityOptions.environment))

  @OptionGroup var server: ServerOptions
  @OptionGroup var database: DatabaseOptions
  @OptionGroup var identity: IdentityOptions

  func run() async throws {
    let settings = try self.identity.settings()
    try await ServiceHost(
      name: "identity", defaultPort: 50051, server: self.server,
      database: ServiceDatabase(self.database, schema: "identity", migrations: IdentityMigrations.all)
    ).run { host in  // identity checks its own tokens and API keys, so the host authenticates nothing
      let context = try await IdentityOptions.context(pool: host.pool, settings: settings, logger: host.logger)
      return HostedService(
        services: IdentityServer.services(context: context),
        interceptors: [IdentityOptions.clientAddresses(), try IdentityServer.authentication(context: context)])
    }
  }
}

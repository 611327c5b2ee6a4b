import ArgumentParser
import DatabaseRuntime
import IdentitySchema
import IdentityService
import Logging
import ServiceRuntime

/// `identity bootstrap`: the first tenant and its platform operator.
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
    var settings = IdentitySettings()
    settings.seedBox = try IdentityOptions.seedBox()
    let schema = ServiceDatabase(self.database, schema: "identity", migrations: IdentityMigrations.all)
    try await schema.withMigratedPool(name: "identity", logger: logger) { pool in
      let context = IdentityContext(pool: pool, settings: settings, logger: logger)
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
    }
  }
}

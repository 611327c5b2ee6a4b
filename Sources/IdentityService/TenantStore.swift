import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
public import IdentityV1Protos
import ServiceKit
public import RPCCore

/// The SQL of `tenants`: creating one with its first admin (from the RPC and from
/// `identity bootstrap`), reading one.
public enum TenantStore {
  public struct Created: Sendable {
    public var tenant: Identity_V1_Tenant
    var admin: UserRecord
    public var adminMessage: Identity_V1_User { self.admin.message }
    /// The admin's one-time password.
    public var password: String
  }

  /// Creates a tenant and its first admin with a random password, audited in the new tenant's
  /// chain.
  public static func create(
    name: String, plan: String, configJSON: String, adminEmail: String, adminFullName: String,
    platformOperator: Bool, actor: String, context: IdentityContext
  ) async throws(RPCError) -> Created {
    let trimmedName = try requiredText(name, "name", maxCharacters: 200)
    let email = try UsersService.validEmail(adminEmail)
    let config = configJSON.isEmpty ? "{}" : configJSON
    let password = SecureRandom.token(byteCount: 18)
    let hash: String
    do {
      hash = try await context.hashPassword(password)
    } catch {
      throw RPCError(code: .internal, message: "Password hashing failed.", cause: error)
    }
    return try await context.database.write { connection in
      let tenantID = UUID()
      let tenant: Identity_V1_Tenant
      do {
        tenant = try await connection.query(
          """
          INSERT INTO tenants (id, name, plan, config) VALUES (\(tenantID), \(trimmedName), \(plan.isEmpty ? "free" : plan), \(config)::jsonb)
          RETURNING \(columns: TenantRecord.self)
          """
        ).first(TenantRecord.self)!.message
      } catch let error as PostgresError where error.state?.errorClass == "22" {
        throw RPCError(code: .invalidArgument, message: "config_json must be a JSON object.")
      }
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "create", entity: "tenant", entityID: tenantID.uuidString.lowercased(), before: "",
          after: JSONText.object([("id", .string(tenant.id)), ("name", .string(tenant.name)), ("plan", .string(tenant.plan))])),
        tenantID: tenantID, on: connection)
      let admin = try await UserStore.insert(
        UserStore.NewUser(
          tenantID: tenantID, email: email, phone: nil, username: "", fullName: adminFullName, role: .admin,
          platformOperator: platformOperator, receiveEmail: true, passwordHash: hash),
        actor: actor, on: connection)
      return Created(tenant: tenant, admin: admin, password: password)
    }
  }

  /// Whether any tenant exists (bootstrap runs only on an empty database).
  public static func anyTenantExists(context: IdentityContext) async throws -> Bool {
    try await context.pool.query("SELECT EXISTS (SELECT 1 FROM tenants)").first!.decode(Bool.self)
  }

  /// The tenant `id`, `nil` when it does not exist.
  static func tenant(id: UUID, context: IdentityContext) async throws(RPCError) -> Identity_V1_Tenant? {
    try await context.database.read { connection in
      try await connection.query("SELECT \(columns: TenantRecord.self) FROM tenants WHERE id = \(id)")
        .first(TenantRecord.self)?.message
    }
  }

}

/// A row of `identity.tenants`.
struct TenantRecord: Sendable, RowDecodable {
  var id: UUID
  var name: String
  var plan: String
  var configJSON: String
  var createdAt: Date

  static let columns = "id, name, plan, config::text, created_at"

  init(row: PostgresRow) throws {
    (self.id, self.name, self.plan, self.configJSON, self.createdAt) = try row.decode((UUID, String, String, String, Date).self)
  }

  var message: Identity_V1_Tenant {
    var tenant = Identity_V1_Tenant()
    tenant.id = self.id.uuidString.lowercased()
    tenant.name = self.name
    tenant.plan = self.plan
    tenant.configJson = self.configJSON
    tenant.createdAtMs = self.createdAt.unixMilliseconds
    return tenant
  }
}

import Auth
import Foundation
import Postgres
public import IdentityV1Protos
import ServiceKit
public import RPCCore

/// `identity.v1.Tenants`.
public struct TenantsService: Identity_V1_Tenants.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  public func createTenant(request: Identity_V1_CreateTenantRequest, context: ServerContext) async throws
    -> Identity_V1_CreateTenantResponse
  {
    let caller = try context.requireCaller()
    guard caller.kind == .platformOperator else {
      throw RPCError(code: .permissionDenied, message: "Only platform operators create tenants.")
    }
    let created = try await TenantWrites.create(
      name: request.name, plan: request.plan, configJSON: request.configJson, adminEmail: request.adminEmail,
      adminFullName: request.adminFullName, platformOperator: false, actor: caller.subject, context: self.context)
    var response = Identity_V1_CreateTenantResponse()
    response.tenant = created.tenant
    response.admin = created.admin.message
    response.adminInitialPassword = created.password
    return response
  }

  public func getTenant(request: Identity_V1_GetTenantRequest, context: ServerContext) async throws -> Identity_V1_Tenant {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let row = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        "SELECT id, name, plan, config::text, created_at FROM tenants WHERE id = \(tenantID)"
      ).first
    }
    guard let row else { throw RPCError(code: .notFound, message: "The caller's tenant does not exist.") }
    return try TenantWrites.message(row)
  }
}

/// Creating tenants (from the RPC and from `identity bootstrap`).
public enum TenantWrites {
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
    return try await context.database.transaction(on: context.pool) { connection in
      let tenantID = UUID()
      let row: PostgresRow
      do {
        row = try await connection.query(
          """
          INSERT INTO tenants (id, name, plan, config) VALUES (\(tenantID), \(trimmedName), \(plan.isEmpty ? "free" : plan), \(config)::jsonb)
          RETURNING id, name, plan, config::text, created_at
          """
        ).first!
      } catch let error as PostgresError where error.state?.errorClass == "22" {
        throw RPCError(code: .invalidArgument, message: "config_json must be a JSON object.")
      }
      let tenant = try Self.message(row)
      try await AuditLog.append(
        AuditLog.Entry(
          actor: actor, action: "create", entity: "tenant", entityID: tenantID.uuidString.lowercased(), before: "",
          after: JSONText.object([("id", .string(tenant.id)), ("name", .string(tenant.name)), ("plan", .string(tenant.plan))])),
        tenantID: tenantID, on: connection)
      let admin = try await UserWrites.insert(
        UserWrites.NewUser(
          tenantID: tenantID, email: email, phone: nil, username: "", fullName: adminFullName, role: .admin,
          platformOperator: platformOperator, receiveEmail: true, passwordHash: hash),
        actor: actor, on: connection)
      return Created(tenant: tenant, admin: admin, password: password)
    }
  }

  /// Whether any tenant exists (bootstrap runs only on an empty database).
  public static func anyTenantExists(context: IdentityContext) async throws -> Bool {
    try await context.pool.query("SELECT EXISTS (SELECT 1 FROM tenants)").first!.decode(column: 0, as: Bool.self)
  }

  static func message(_ row: PostgresRow) throws -> Identity_V1_Tenant {
    var tenant = Identity_V1_Tenant()
    tenant.id = try row.decode(column: 0, as: UUID.self).uuidString.lowercased()
    tenant.name = try row.decode(column: 1, as: String.self)
    tenant.plan = try row.decode(column: 2, as: String.self)
    tenant.configJson = try row.decode(column: 3, as: String.self)
    tenant.createdAtMs = try row.decode(column: 4, as: Date.self).unixMilliseconds
    return tenant
  }
}

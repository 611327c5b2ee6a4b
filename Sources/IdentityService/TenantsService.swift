import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
    let created = try await TenantStore.create(
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
    guard let tenant = try await TenantStore.tenant(id: tenantID, context: self.context) else {
      throw RPCError(code: .notFound, message: "The caller's tenant does not exist.")
    }
    return tenant
  }
}

import CatalogV1Protos
import GRPCHealthV1Protos
import GRPCReflectionV1Protos
import GRPCTestingProtos
import GatewayV1Protos
import IdentityV1Protos
import RPCCore
import Testing

/// The `(suite.v1.access)` options as generated into the method descriptors.
@Suite("Declared method access")
struct MethodAccessTests {
  /// Every suite method with the access in force before roles were declared in the protos:
  /// the stricter of the services' old policy tables and their handlers' role checks (they
  /// agreed everywhere), with identity's public methods (ExchangeApiKey included).
  static let expected: [String: MethodAccess] = {
    var access: [String: MethodAccess] = [:]
    for path in [
      "/identity.v1.Sessions/Login", "/identity.v1.Sessions/Refresh", "/identity.v1.Sessions/GetSigningKeys",
      "/identity.v1.ApiKeys/ExchangeApiKey",
    ] { access[path] = .public }
    for path in [
      "/identity.v1.Tenants/GetTenant", "/identity.v1.Users/GetUser", "/identity.v1.Users/ListUsers",
      "/identity.v1.Users/CountUsers", "/identity.v1.Users/SetPassword", "/identity.v1.Sessions/Logout",
      "/identity.v1.UserSettings/GetPreferences", "/identity.v1.UserSettings/UpdatePreferences",
      "/identity.v1.UserSettings/ListDashboards", "/identity.v1.UserSettings/SaveDashboard",
      "/identity.v1.UserSettings/DeleteDashboard",
      "/catalog.v1.Products/GetProduct", "/catalog.v1.Products/ListProducts", "/catalog.v1.Products/CountProducts",
      "/catalog.v1.Categories/ListCategories", "/catalog.v1.Inventory/ListLocations", "/catalog.v1.Inventory/GetStock",
      "/catalog.v1.Inventory/ListLowStock", "/catalog.v1.StockAnalytics/ListStockClients",
      "/catalog.v1.StockAnalytics/GetStockAging", "/catalog.v1.StockAnalytics/GetStockTotals",
      "/catalog.v1.Events/WatchEvents", "/gateway.v1.Overview/GetTenantOverview",
    ] { access[path] = .role(.viewer) }
    for path in [
      "/catalog.v1.Products/CreateProduct", "/catalog.v1.Products/UpdateProduct", "/catalog.v1.Products/ArchiveProduct",
      "/catalog.v1.Categories/CreateCategory", "/catalog.v1.Categories/MoveCategory",
      "/catalog.v1.Inventory/PutLocation", "/catalog.v1.Inventory/Restock", "/catalog.v1.Inventory/AdjustStock",
      "/catalog.v1.Inventory/SetReorderThreshold", "/catalog.v1.Reservations/Reserve",
      "/catalog.v1.Reservations/Commit", "/catalog.v1.Reservations/Release",
      "/catalog.v1.StockAnalytics/ImportSnapshots", "/catalog.v1.StockAnalytics/ImportCsv",
    ] { access[path] = .role(.editor) }
    for path in [
      "/identity.v1.Tenants/CreateTenant", "/identity.v1.Users/CreateUser", "/identity.v1.Users/UpdateUser",
      "/identity.v1.Users/DeactivateUser", "/identity.v1.Sessions/RotateSigningKey",
      "/identity.v1.Audit/ListAuditEvents", "/identity.v1.Audit/VerifyAuditChain",
      "/identity.v1.ApiKeys/CreateApiKey", "/identity.v1.ApiKeys/ListApiKeys", "/identity.v1.ApiKeys/RevokeApiKey",
      "/identity.v1.Privacy/ExportUserData", "/identity.v1.Privacy/AnonymizeUser",
    ] { access[path] = .role(.admin) }
    return access
  }()

  @Test("every suite method declares the access it had before, and only the standard services declare none")
  func declaredAccessIsTheFormerEffectiveRule() {
    var declared: [String: MethodAccess] = [:]
    for method in IdentityV1ProtoMethods.all + CatalogV1ProtoMethods.all + GatewayV1ProtoMethods.all
      + GRPCHealthV1ProtoMethods.all + GRPCReflectionV1ProtoMethods.all + GRPCTestingProtoMethods.all
    {
      if let access = method.access {
        declared[method.path] = access
      } else {
        #expect(method.service.hasPrefix("grpc."), "\(method.path) declares no access")
      }
    }
    #expect(declared == Self.expected)
  }

  @Test("the generated descriptors carry the option")
  func generatedDescriptors() {
    #expect(Identity_V1_Sessions.Method.Login.descriptor.access == .public)
    #expect(Catalog_V1_Products.Method.CreateProduct.descriptor.access == .role(.editor))
    #expect(Identity_V1_Privacy.Method.AnonymizeUser.descriptor.access == .role(.admin))
    #expect(Grpc_Health_V1_Health.Method.Check.descriptor.access == nil)
    // The access is not part of a descriptor's identity: a descriptor parsed from a path is equal.
    #expect(MethodDescriptor(path: "/identity.v1.Sessions/Login") == Identity_V1_Sessions.Method.Login.descriptor)
  }
}

import Auth
import CatalogV1Protos
public import GatewayV1Protos
import IdentityV1Protos
public import RPCCore

/// `gateway.v1.Overview`: one call that gathers the caller's tenant from several services at
/// once, each part under the same deadline, returning what arrived and the status of each part.
public struct OverviewService: Gateway_V1_Overview.ServiceProtocol {
  let proxy: Proxy

  public init(proxy: Proxy) {
    self.proxy = proxy
  }

  enum Part: Sendable {
    case users(Identity_V1_CountUsersResponse)
    case products(Catalog_V1_CountProductsResponse)
    case lowStock(Catalog_V1_ListLowStockResponse)
  }

  public func getTenantOverview(request: ServerRequest<Gateway_V1_GetTenantOverviewRequest>, context: ServerContext)
    async throws -> ServerResponse<Gateway_V1_TenantOverview>
  {
    // The caller's own token goes to the services, which check it and scope by tenant (an API
    // key arrives here already exchanged for a token, as proxied calls forward it).
    ServerResponse(
      message: try await self.overview(authorization: request.metadata.firstString("authorization"), context: context))
  }

  func overview(authorization: String?, context: ServerContext) async throws -> Gateway_V1_TenantOverview {
    let caller = try context.requireCaller()
    var overview = Gateway_V1_TenantOverview()
    overview.tenantId = caller.tenantID
    var forwarded = Metadata()
    if let authorization { forwarded.add("authorization", authorization) }
    var callOptions = CallOptions.defaults
    // The parts end a little before the caller's deadline, so that a slow backend leaves its
    // part empty (DEADLINE_EXCEEDED) instead of the caller's deadline ending the whole call.
    let remaining = try RPCDeadline.effectiveTimeout(.seconds(2)) ?? .seconds(2)
    callOptions.timeout = min(remaining - min(remaining / 10, .milliseconds(50)), .seconds(2))
    let metadata = forwarded
    let options = callOptions
    let calls: [(String, String, @Sendable (RPCClient) async throws -> Part)] = [
      ("users", "identity.v1.Users", { client in
        .users(try await Identity_V1_Users.Client(wrapping: client).countUsers(
          Identity_V1_CountUsersRequest(), metadata: metadata, options: options))
      }),
      ("products", "catalog.v1.Products", { client in
        .products(try await Catalog_V1_Products.Client(wrapping: client).countProducts(
          Catalog_V1_CountProductsRequest(), metadata: metadata, options: options))
      }),
      ("low_stock", "catalog.v1.Inventory", { client in
        var lowStock = Catalog_V1_ListLowStockRequest()
        lowStock.limit = 20
        return .lowStock(try await Catalog_V1_Inventory.Client(wrapping: client).listLowStock(
          lowStock, metadata: metadata, options: options))
      }),
    ]
    let results = await withTaskGroup(of: (String, Result<Part, RPCError>, Duration).self) { group in
      for (name, service, call) in calls {
        group.addTask {
          let start = ContinuousClock.now
          guard let set = self.proxy.replicaSets[service] else {
            return (name, .failure(RPCError(code: .unimplemented, message: "\(service) is not routed.")), .zero)
          }
          guard let replica = set.acquire(limit: self.proxy.configuration.maxPendingPerReplica) else {
            return (name, .failure(ForwardingPolicy.atCapacity(service: service)), .zero)
          }
          defer { replica.release() }
          do {
            let part = try await call(replica.client)
            return (name, .success(part), ContinuousClock.now - start)
          } catch {
            let failure = RPCError(mapping: error)
            if failure.code == .unavailable { replica.recordFailure() }
            return (name, .failure(failure), ContinuousClock.now - start)
          }
        }
      }
      var results: [(String, Result<Part, RPCError>, Duration)] = []
      for await result in group { results.append(result) }
      return results.sorted { $0.0 < $1.0 }
    }
    for (name, result, duration) in results {
      var status = Gateway_V1_PartStatus()
      status.part = name
      status.durationMs = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
      switch result {
      case .success(.users(let users)):
        overview.activeUsers = users.active
        overview.activeUsersByRole = users.activeByRole
      case .success(.products(let products)):
        overview.activeProducts = products.active
      case .success(.lowStock(let low)):
        overview.lowStock = low.levels.map { level in
          var item = Gateway_V1_LowStockItem()
          item.productId = level.productId
          item.locationCode = level.locationCode
          item.available = level.available
          item.reorderThreshold = level.reorderThreshold
          return item
        }
      case .failure(let error):
        status.code = Int32(error.code.rawValue)
        status.message = error.message
      }
      overview.parts.append(status)
    }
    return overview
  }
}

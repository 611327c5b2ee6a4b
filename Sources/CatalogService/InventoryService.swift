import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import PostgresRPC
public import CatalogV1Protos
public import RPCCore

/// `catalog.v1.Inventory`: locations and stock levels.
public struct InventoryService: Catalog_V1_Inventory.SimpleServiceProtocol {
  let context: CatalogContext

  public init(context: CatalogContext) {
    self.context = context
  }

  public func putLocation(request: Catalog_V1_Location, context: ServerContext) async throws -> Catalog_V1_Location {
    let tenantID = try context.requireCaller().tenantUUID
    let code = request.code.trimmingWhitespace()
    guard !code.isEmpty, code.count <= 16, code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
    else {
      throw RPCError(code: .invalidArgument, message: "A location code is 1 to 16 letters, digits, '-' or '_'.")
    }
    let location = LocationRecord(code: code, name: request.name)
    try await self.context.locations.put(location, tenantID: tenantID)
    return location.message
  }

  public func listLocations(request: Catalog_V1_ListLocationsRequest, context: ServerContext) async throws
    -> Catalog_V1_ListLocationsResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    var response = Catalog_V1_ListLocationsResponse()
    response.locations = try await self.context.locations.list(tenantID: tenantID).map(\.message)
    return response
  }

  public func restock(request: Catalog_V1_RestockRequest, context: ServerContext) async throws -> Catalog_V1_StockLevel {
    let caller = try context.requireCaller()
    guard request.quantity > 0 else { throw RPCError(code: .invalidArgument, message: "quantity must be positive.") }
    return try await self.change(
      productID: request.productId, location: request.locationCode, caller: caller, kind: .restock,
      onHandDelta: request.quantity, reason: request.reason)
  }

  public func adjustStock(request: Catalog_V1_AdjustStockRequest, context: ServerContext) async throws
    -> Catalog_V1_StockLevel
  {
    let caller = try context.requireCaller()
    guard request.delta != 0 else { throw RPCError(code: .invalidArgument, message: "delta must not be zero.") }
    guard !request.reason.isEmpty else { throw RPCError(code: .invalidArgument, message: "A correction needs a reason.") }
    return try await self.change(
      productID: request.productId, location: request.locationCode, caller: caller, kind: .correction,
      onHandDelta: request.delta, reason: request.reason)
  }

  public func setReorderThreshold(request: Catalog_V1_SetReorderThresholdRequest, context: ServerContext) async throws
    -> Catalog_V1_StockLevel
  {
    let tenantID = try context.requireCaller().tenantUUID
    let productID = try parseID(request.productId, what: "product_id")
    guard request.threshold >= 0 else { throw RPCError(code: .invalidArgument, message: "threshold must not be negative.") }
    let level = try await self.context.database.write { connection in
      let current = try await StockLedger.lock(
        productID: productID, location: request.locationCode, tenantID: tenantID, on: connection)
      return try await StockLedger.setThreshold(Int64(request.threshold), of: current, tenantID: tenantID, on: connection)
    }
    return level.message
  }

  public func listLowStock(request: Catalog_V1_ListLowStockRequest, context: ServerContext) async throws
    -> Catalog_V1_ListLowStockResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    guard request.limit >= 0 else { throw RPCError(code: .invalidArgument, message: "limit must not be negative.") }
    let limit = Int64(request.limit == 0 ? 50 : min(Int(request.limit), 500))
    let levels = try await self.context.database.read { connection in
      try await StockLedger.lowStock(limit: limit, tenantID: tenantID, on: connection)
    }
    var response = Catalog_V1_ListLowStockResponse()
    response.levels = levels.map(\.message)
    return response
  }

  public func getStock(request: Catalog_V1_GetStockRequest, context: ServerContext) async throws -> Catalog_V1_GetStockResponse {
    let tenantID = try context.requireCaller().tenantUUID
    let productID = try parseID(request.productId, what: "product_id")
    let levels = try await self.context.database.read { connection in
      let levels = try await StockLedger.levels(productID: productID, tenantID: tenantID, on: connection)
      if levels.isEmpty, try await !ProductStore.exists(productID, tenantID: tenantID, on: connection) {
        throw RPCError(code: .notFound, message: "No product \(productID.lowercased) in this tenant.")
      }
      return levels
    }
    var response = Catalog_V1_GetStockResponse()
    response.levels = levels.map(\.message)
    return response
  }

  private func change(
    productID text: String, location: String, caller: Caller, kind: MovementKind, onHandDelta: Int64, reason: String
  ) async throws -> Catalog_V1_StockLevel {
    let tenantID = try caller.tenantUUID
    let productID = try parseID(text, what: "product_id")
    let level = try await self.context.database.write { connection in
      let current = try await StockLedger.lock(productID: productID, location: location, tenantID: tenantID, on: connection)
      let (onHand, overflow) = current.onHand.addingReportingOverflow(onHandDelta)
      guard !overflow else {
        throw RPCError(
          code: .invalidArgument,
          message: "Stock on hand (\(current.onHand)) plus \(onHandDelta) is past the largest count, \(Int64.max).")
      }
      if onHand < current.reserved {
        throw RPCError(
          code: .failedPrecondition,
          message: "Stock on hand (\(current.onHand)) cannot drop below what is reserved (\(current.reserved)).")
      }
      return try await StockLedger.apply(
        kind: kind, onHandDelta: onHandDelta, reservedDelta: 0, reason: reason, actor: caller.subject,
        reservationID: nil, to: current, tenantID: tenantID, on: connection)
    }
    return level.message
  }
}

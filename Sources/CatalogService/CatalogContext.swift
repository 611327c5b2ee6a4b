internal import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
public import Logging
public import Postgres
internal import PostgresRPC
internal import RPCCore

/// What the catalog handlers share: the database, with a store per aggregate, and the logger.
public struct CatalogContext: Sendable {
  let database: Database
  let logger: Logger

  var pool: PostgresPool { self.database.pool }
  var products: ProductStore { ProductStore(database: self.database) }
  var categories: CategoryStore { CategoryStore(database: self.database) }
  var locations: LocationStore { LocationStore(database: self.database) }
  var reservations: ReservationStore { ReservationStore(database: self.database) }
  var stockSnapshots: StockSnapshotStore { StockSnapshotStore(database: self.database) }

  static let constraintMessages = [
    "products_tenant_sku_key": "A product with this SKU already exists in this tenant.",
    "stock_available_not_negative": "Not enough stock: reserved stock would exceed stock on hand.",
    "stock_on_hand_check": "Stock on hand cannot go below zero.",
    "products_price_check": "price must not be negative.",
    "products_currency_check": "currency must be a three-letter ISO 4217 code such as EUR.",
    "products_sku_check": "sku must be 1 to 64 characters.",
    "products_name_check": "name must be 1 to 300 characters.",
    "locations_code_check": "A location code is 1 to 16 letters, digits, '-' or '_'.",
    "stock_tenant_id_location_code_fkey": "No such location in this tenant.",
    "reservations_tenant_order_key": "This order already has a reservation.",
  ]

  public init(pool: PostgresPool, logger: Logger) {
    self.database = Database(pool: pool, errors: DatabaseErrorMapping(constraintMessages: Self.constraintMessages))
    self.logger = logger
  }
}

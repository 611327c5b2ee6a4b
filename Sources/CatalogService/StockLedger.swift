#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EventOutbox
import Postgres
import PostgresRPC
import CatalogV1Protos
import RPCCore
import ServiceKit

/// What a stock movement records (the `stock_movements.kind` column).
enum MovementKind: String, PostgresTextEnum {
  /// Stock received: on hand goes up, and the row's last restock time is set.
  case restock
  /// A counted correction of stock on hand, with its reason.
  case correction
  /// Stock held for an order.
  case reservation
  /// A reservation committed: its stock leaves on hand and reserved.
  case commit
  /// A reservation released or expired: its stock is free again.
  case release
}

/// Every stock change goes through here: lock the stock row, write the insert-only movement,
/// update the totals, and emit a low-stock event when available stock crosses below the
/// reorder threshold — all on the caller's transaction. Reads of stock levels live here too.
enum StockLedger {
  struct Level: Sendable, RowDecodable {
    var productID: UUID
    var locationCode: String
    var onHand: Int64
    var reserved: Int64
    var threshold: Int64
    var lastRestockAt: Date?

    var available: Int64 { self.onHand - self.reserved }

    static let columns = "product_id, location_code, on_hand, reserved, reorder_threshold, last_restock_at"

    init(row: PostgresRow) throws {
      (self.productID, self.locationCode, self.onHand, self.reserved, self.threshold, self.lastRestockAt) =
        try row.decode((UUID, String, Int64, Int64, Int64, Date?).self)
    }

    var message: Catalog_V1_StockLevel {
      var level = Catalog_V1_StockLevel()
      level.productId = self.productID.lowercased
      level.locationCode = self.locationCode
      level.onHand = self.onHand
      level.reserved = self.reserved
      level.available = self.available
      level.reorderThreshold = self.threshold
      level.lastRestockAtMs = self.lastRestockAt?.unixMilliseconds ?? 0
      return level
    }
  }

  /// Locks (creating when missing) the stock row of a product at a location of `tenantID`.
  ///
  /// An existing row is locked in one round trip: it can only have been created for this tenant
  /// after its product and location were found in the tenant, and its foreign keys keep both.
  static func lock(productID: UUID, location: String, tenantID: UUID, on connection: PostgresConnection) async throws
    -> Level
  {
    if let level = try await connection.query(
      """
      SELECT \(columns: Level.self) FROM stock
      WHERE tenant_id = \(tenantID) AND product_id = \(productID) AND location_code = \(location) FOR UPDATE
      """
    ).first(Level.self) {
      return level
    }
    let product = try await connection.query(
      "SELECT 1 FROM products WHERE tenant_id = \(tenantID) AND id = \(productID)")
    guard !product.isEmpty else {
      throw RPCError(code: .notFound, message: "No product \(productID.lowercased) in this tenant.")
    }
    let place = try await connection.query(
      "SELECT 1 FROM locations WHERE tenant_id = \(tenantID) AND code = \(location)")
    guard !place.isEmpty else {
      throw RPCError(code: .notFound, message: "No location \"\(location.prefix(32))\" in this tenant.")
    }
    try await connection.query(
      """
      INSERT INTO stock (tenant_id, product_id, location_code) VALUES (\(tenantID), \(productID), \(location))
      ON CONFLICT DO NOTHING
      """)
    return try await connection.query(
      """
      SELECT \(columns: Level.self) FROM stock
      WHERE tenant_id = \(tenantID) AND product_id = \(productID) AND location_code = \(location) FOR UPDATE
      """
    ).first(Level.self)!
  }

  /// Applies a movement to a locked row and returns the new level.
  static func apply(
    kind: MovementKind, onHandDelta: Int64, reservedDelta: Int64, reason: String, actor: String, reservationID: UUID?,
    to level: Level, tenantID: UUID, on connection: PostgresConnection
  ) async throws -> Level {
    // The movement and the totals in one statement (one round trip while the row is locked).
    let updated = try await connection.query(
      """
      WITH movement AS (
        INSERT INTO stock_movements (tenant_id, product_id, location_code, kind, on_hand_delta, reserved_delta, reason, actor, reservation_id)
        VALUES (\(tenantID), \(level.productID), \(level.locationCode), \(kind), \(onHandDelta), \(reservedDelta), \(reason), \(actor), \(reservationID)))
      UPDATE stock SET on_hand = on_hand + \(onHandDelta), reserved = reserved + \(reservedDelta),
        last_restock_at = CASE WHEN \(kind == .restock) THEN now() ELSE last_restock_at END
      WHERE tenant_id = \(tenantID) AND product_id = \(level.productID) AND location_code = \(level.locationCode)
      RETURNING \(columns: Level.self)
      """
    ).first(Level.self)!
    if level.available >= level.threshold && updated.available < updated.threshold {
      try await Outbox.append(
        type: "low_stock",
        payloadJSON: JSONText.object([
          ("product_id", .string(updated.productID.lowercased)), ("location_code", .string(updated.locationCode)),
          ("available", .int(updated.available)), ("reorder_threshold", .int(updated.threshold)),
        ]),
        tenantID: tenantID, on: connection)
    }
    return updated
  }

  /// Sets the reorder threshold of a row that ``lock(productID:location:tenantID:on:)`` locked.
  static func setThreshold(
    _ threshold: Int64, of level: Level, tenantID: UUID, on connection: PostgresConnection
  ) async throws -> Level {
    try await connection.query(
      """
      UPDATE stock SET reorder_threshold = \(threshold)
      WHERE tenant_id = \(tenantID) AND product_id = \(level.productID) AND location_code = \(level.locationCode)
      RETURNING \(columns: Level.self)
      """
    ).first(Level.self)!
  }

  /// A product's levels at every location that has a stock row, by location code.
  static func levels(productID: UUID, tenantID: UUID, on connection: PostgresConnection) async throws -> [Level] {
    try await connection.query(
      """
      SELECT \(columns: Level.self) FROM stock
      WHERE tenant_id = \(tenantID) AND product_id = \(productID) ORDER BY location_code
      """
    ).decode(Level.self)
  }

  /// Up to `limit` levels whose available stock is below their threshold, lowest first.
  static func lowStock(limit: Int64, tenantID: UUID, on connection: PostgresConnection) async throws -> [Level] {
    try await connection.query(
      """
      SELECT \(columns: Level.self) FROM stock
      WHERE tenant_id = \(tenantID) AND on_hand - reserved < reorder_threshold
      ORDER BY on_hand - reserved, product_id, location_code LIMIT \(limit)
      """
    ).decode(Level.self)
  }
}

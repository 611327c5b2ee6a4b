import Foundation
import EventOutbox
import Postgres
import CatalogV1Protos
import RPCCore
import ServiceKit

/// Every stock change goes through here: lock the stock row, write the insert-only movement,
/// update the totals, and emit a low-stock event when available stock crosses below the
/// reorder threshold — all on the caller's transaction.
enum StockLedger {
  struct Level: Sendable {
    var productID: UUID
    var locationCode: String
    var onHand: Int64
    var reserved: Int64
    var threshold: Int64
    var lastRestockAt: Date?

    var available: Int64 { self.onHand - self.reserved }

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

  static let levelColumns = "product_id, location_code, on_hand, reserved, reorder_threshold, last_restock_at"

  static func level(_ row: PostgresRow) throws -> Level {
    Level(
      productID: try row.decode(column: 0, as: UUID.self), locationCode: try row.decode(column: 1, as: String.self),
      onHand: try row.decode(column: 2, as: Int64.self), reserved: try row.decode(column: 3, as: Int64.self),
      threshold: try row.decode(column: 4, as: Int64.self), lastRestockAt: try row.decode(column: 5, as: Date?.self))
  }

  /// Locks (creating when missing) the stock row of a product at a location of `tenantID`.
  ///
  /// An existing row is locked in one round trip: it can only have been created for this tenant
  /// after its product and location were found in the tenant, and its foreign keys keep both.
  static func lock(productID: UUID, location: String, tenantID: UUID, on connection: PostgresConnection) async throws
    -> Level
  {
    if let row = try await connection.query(
      """
      SELECT \(unescaped: Self.levelColumns) FROM stock
      WHERE tenant_id = \(tenantID) AND product_id = \(productID) AND location_code = \(location) FOR UPDATE
      """
    ).first {
      return try Self.level(row)
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
    let row = try await connection.query(
      """
      SELECT \(unescaped: Self.levelColumns) FROM stock
      WHERE tenant_id = \(tenantID) AND product_id = \(productID) AND location_code = \(location) FOR UPDATE
      """
    ).first!
    return try Self.level(row)
  }

  /// Applies a movement to a locked row and returns the new level.
  static func apply(
    kind: String, onHandDelta: Int64, reservedDelta: Int64, reason: String, actor: String, reservationID: UUID?,
    to level: Level, tenantID: UUID, on connection: PostgresConnection
  ) async throws -> Level {
    // The movement and the totals in one statement (one round trip while the row is locked).
    let row = try await connection.query(
      """
      WITH movement AS (
        INSERT INTO stock_movements (tenant_id, product_id, location_code, kind, on_hand_delta, reserved_delta, reason, actor, reservation_id)
        VALUES (\(tenantID), \(level.productID), \(level.locationCode), \(kind), \(onHandDelta), \(reservedDelta), \(reason), \(actor), \(reservationID)))
      UPDATE stock SET on_hand = on_hand + \(onHandDelta), reserved = reserved + \(reservedDelta),
        last_restock_at = CASE WHEN \(kind == "restock") THEN now() ELSE last_restock_at END
      WHERE tenant_id = \(tenantID) AND product_id = \(level.productID) AND location_code = \(level.locationCode)
      RETURNING \(unescaped: Self.levelColumns)
      """
    ).first!
    let updated = try Self.level(row)
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
}

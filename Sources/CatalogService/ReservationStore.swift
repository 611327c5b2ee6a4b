#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import CatalogV1Protos
import RPCCore
import ServiceKit

/// Where a reservation is in its life (the `reservations.status` column).
enum ReservationStatus: String, PostgresTextEnum, CustomStringConvertible {
  /// Holds its stock until it is committed, released or expires.
  case reserved
  /// Its stock left the warehouse; final.
  case committed
  /// Given back by the caller; the order may be reserved again.
  case released
  /// Given back by the sweeper (or a new reservation of the order) after its time ran out.
  case expired

  var description: String { self.rawValue }
}

/// One line of a reservation: a quantity of a product at a location.
struct ReservationLine: Sendable, Hashable, RowDecodable {
  var productID: UUID
  var location: String
  var quantity: Int64

  static let columns = "product_id, location_code, quantity"

  init(productID: UUID, location: String, quantity: Int64) {
    self.productID = productID
    self.location = location
    self.quantity = quantity
  }

  init(row: PostgresRow) throws {
    (self.productID, self.location, self.quantity) = try row.decode((UUID, String, Int64).self)
  }
}

/// A stored reservation with its lines.
struct Reservation: Sendable {
  var id: UUID
  var orderID: String
  var status: ReservationStatus
  var expiresAt: Date
  /// Whether `expiresAt` had passed when the reservation was read.
  var expired: Bool
  var lines: [ReservationLine]

  var message: Catalog_V1_Reservation {
    var reservation = Catalog_V1_Reservation()
    reservation.id = self.id.lowercased
    reservation.orderId = self.orderID
    reservation.status = self.status.rawValue
    reservation.expiresAtMs = self.expiresAt.unixMilliseconds
    reservation.lines = self.lines.map { line in
      var message = Catalog_V1_ReservationLine()
      message.productId = line.productID.lowercased
      message.locationCode = line.location
      message.quantity = line.quantity
      return message
    }
    return reservation
  }

  /// The outbox payload of the reservation's events.
  var payload: String {
    JSONText.object([
      ("reservation_id", .string(self.id.lowercased)), ("order_id", .string(self.orderID)),
      ("status", .string(self.status.rawValue)), ("lines", .number("[" + self.lines.map { line in
        JSONText.object([
          ("product_id", .string(line.productID.lowercased)), ("location_code", .string(line.location)),
          ("quantity", .int(line.quantity)),
        ])
      }.joined(separator: ",") + "]")),
    ])
  }
}

/// The SQL of `reservations` and `reservation_lines`. Stock moves through ``StockLedger``.
struct ReservationStore: Sendable {
  let database: Database

  /// Runs `body` in a write transaction that first takes the order's lock, so that the
  /// reserve, commit, release and expiry of one order run one after the other.
  func withOrderLocked<Result>(
    _ orderID: String, tenantID: UUID, isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> Result
  ) async throws(RPCError) -> Result {
    try await self.database.write { connection in
      try await connection.lock(Self.orderLock(orderID, tenantID: tenantID))
      return try await body(connection)
    }
  }

  /// The per-order lock: key `reservation:<TENANT>:<order id>`.
  static func orderLock(_ orderID: String, tenantID: UUID) -> AdvisoryLock {
    AdvisoryLock("reservation", key: tenantID.uuidString + ":" + orderID)
  }

  /// The order's reservation with its lines, its row locked; `nil` when there is none.
  static func load(orderID: String, tenantID: UUID, on connection: PostgresConnection) async throws -> Reservation? {
    guard
      let row = try await connection.query(
        """
        SELECT id, status, expires_at, expires_at < now() FROM reservations
        WHERE tenant_id = \(tenantID) AND order_id = \(orderID) FOR UPDATE
        """
      ).first
    else { return nil }
    let (id, status, expiresAt, expired) = try row.decode((UUID, ReservationStatus, Date, Bool).self)
    let lines = try await connection.query(
      """
      SELECT \(columns: ReservationLine.self) FROM reservation_lines WHERE reservation_id = \(id)
      ORDER BY product_id, location_code COLLATE "C"
      """
    ).decode(ReservationLine.self)
    return Reservation(id: id, orderID: orderID, status: status, expiresAt: expiresAt, expired: expired, lines: lines)
  }

  /// Stores a new `reserved` reservation of `lines` that expires `ttlSeconds` from now (two
  /// statements: the reservation, then all its lines at once).
  static func insert(
    orderID: String, lines: [ReservationLine], ttlSeconds: Int64, tenantID: UUID, on connection: PostgresConnection
  ) async throws -> Reservation {
    let id = UUID()
    guard
      let created = try await connection.query(
        """
        INSERT INTO reservations (id, tenant_id, order_id, status, expires_at)
        VALUES (\(id), \(tenantID), \(orderID), \(ReservationStatus.reserved), now() + make_interval(secs => \(Double(ttlSeconds))))
        RETURNING expires_at
        """
      ).first
    else { throw RPCError(code: .internal, message: "The reservation was not stored.") }
    let expiresAt = try created.decode(Date.self)
    try await connection.query(
      """
      INSERT INTO reservation_lines (reservation_id, product_id, location_code, quantity)
      SELECT \(id), line.product_id, line.location_code, line.quantity
      FROM unnest(\(lines.map(\.productID)), \(lines.map(\.location)), \(lines.map(\.quantity)))
        AS line(product_id, location_code, quantity)
      """)
    return Reservation(id: id, orderID: orderID, status: .reserved, expiresAt: expiresAt, expired: false, lines: lines)
  }

  static func setStatus(_ status: ReservationStatus, of id: UUID, on connection: PostgresConnection) async throws {
    try await connection.query("UPDATE reservations SET status = \(status) WHERE id = \(id)")
  }

  /// Deletes a reservation and its lines (its history stays in its movements and events).
  static func delete(_ id: UUID, on connection: PostgresConnection) async throws {
    try await connection.query("DELETE FROM reservation_lines WHERE reservation_id = \(id)")
    try await connection.query("DELETE FROM reservations WHERE id = \(id)")
  }

  /// Up to `limit` `reserved` reservations past their expiry, soonest expired first (the
  /// status is written out so that the partial index `reservations_expiry` serves it).
  func overdue(limit: Int64) async throws(RPCError) -> [(tenantID: UUID, orderID: String)] {
    try await self.database.read { connection in
      try await connection.query(
        """
        SELECT tenant_id, order_id FROM reservations WHERE status = 'reserved' AND expires_at < now()
        ORDER BY expires_at LIMIT \(limit)
        """
      ).decode((UUID, String).self).map { (tenantID: $0.0, orderID: $0.1) }
    }
  }
}

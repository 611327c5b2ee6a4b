import Auth
import EventOutbox
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Postgres
import PostgresRPC
public import CatalogV1Protos
public import RPCCore
import ServiceKit

/// `catalog.v1.Reservations`: stock held for orders, all lines or none, never oversold.
///
/// Stock rows are locked in one global order (product id, then location code), so concurrent
/// reservations wait for each other instead of deadlocking; the `reserved <= on_hand` CHECK
/// backs the Swift-side check in the database itself.
public struct ReservationsService: Catalog_V1_Reservations.SimpleServiceProtocol {
  let context: CatalogContext

  public init(context: CatalogContext) {
    self.context = context
  }

  public func reserve(request: Catalog_V1_ReserveRequest, context: ServerContext) async throws -> Catalog_V1_Reservation {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let orderID = try Self.orderID(request.orderId)
    guard !request.lines.isEmpty, request.lines.count <= 200 else {
      throw RPCError(code: .invalidArgument, message: "A reservation has 1 to 200 lines.")
    }
    guard (0...86400).contains(request.ttlSeconds) else {
      throw RPCError(code: .invalidArgument, message: "ttl_seconds must be in 0...86400.")
    }
    var merged: [String: ReservationLine] = [:]
    for (index, line) in request.lines.enumerated() {
      let productID = try parseID(line.productId, what: "lines[\(index)].product_id")
      guard line.quantity > 0 else { throw RPCError(code: .invalidArgument, message: "lines[\(index)].quantity must be positive.") }
      let key = productID.lowercased + "|" + line.locationCode
      let (sum, overflow) = (merged[key]?.quantity ?? 0).addingReportingOverflow(line.quantity)
      guard !overflow else { throw RPCError(code: .invalidArgument, message: "lines[\(index)].quantity is too large.") }
      merged[key] = ReservationLine(productID: productID, location: line.locationCode, quantity: sum)
    }
    let lines = Self.inStockOrder(Array(merged.values))
    let ttl = request.ttlSeconds == 0 ? 900 : Int64(request.ttlSeconds)
    return try await self.context.reservations.withOrderLocked(orderID, tenantID: tenantID) { connection in
      if let existing = try await ReservationStore.load(orderID: orderID, tenantID: tenantID, on: connection) {
        switch existing.status {
        case .reserved where !existing.expired:
          // A retry of the same request gets the reservation it made; other lines are another
          // request, which must not be answered as if it had been carried out.
          guard Set(existing.lines) == Set(lines) else {
            throw RPCError(
              code: .alreadyExists,
              message: "Order \"\(orderID.prefix(64))\" already has an active reservation with other lines; "
                + "release it before reserving different lines.")
          }
          return existing.message
        case .committed:
          throw RPCError(
            code: .failedPrecondition,
            message: "The reservation of order \"\(orderID.prefix(64))\" is committed; the order cannot be reserved again.")
        default:
          // Expired (swept or not yet) or released: the order holds no stock, and a new
          // reservation replaces the finished one.
          try await Self.removeFinished(existing, before: lines, actor: caller.subject, tenantID: tenantID, on: connection)
        }
      }
      var levels: [StockLedger.Level] = []
      var short: [String] = []
      for line in lines {
        let level = try await StockLedger.lock(
          productID: line.productID, location: line.location, tenantID: tenantID, on: connection)
        if level.available < line.quantity {
          short.append("\(line.productID.lowercased) at \(line.location): \(level.available) available, \(line.quantity) asked")
        }
        levels.append(level)
      }
      if !short.isEmpty {
        throw RPCError(code: .failedPrecondition, message: "Not enough stock: " + short.joined(separator: "; ") + ".")
      }
      // The stock rows stay locked until the commit, so every round trip from here on delays
      // the orders queued on them: the lines go in one statement, and the answer is built from
      // what was written instead of being read back.
      let stored = try await ReservationStore.insert(
        orderID: orderID, lines: lines, ttlSeconds: ttl, tenantID: tenantID, on: connection)
      for (line, level) in zip(lines, levels) {
        _ = try await StockLedger.apply(
          kind: .reservation, onHandDelta: 0, reservedDelta: line.quantity, reason: "order \(orderID)",
          actor: caller.subject, reservationID: stored.id, to: level, tenantID: tenantID, on: connection)
      }
      try await Outbox.append(
        type: "reservation_created", payloadJSON: stored.payload, tenantID: tenantID, on: connection)
      return stored.message
    }
  }

  public func commit(request: Catalog_V1_CommitReservationRequest, context: ServerContext) async throws
    -> Catalog_V1_Reservation
  {
    try await self.finish(orderID: request.orderId, to: .committed, caller: context.requireCaller())
  }

  public func release(request: Catalog_V1_ReleaseReservationRequest, context: ServerContext) async throws
    -> Catalog_V1_Reservation
  {
    try await self.finish(orderID: request.orderId, to: .released, caller: context.requireCaller())
  }

  /// Commits or releases a reservation; repeating the same request returns the same result.
  private func finish(orderID text: String, to status: ReservationStatus, caller: Caller) async throws
    -> Catalog_V1_Reservation
  {
    let tenantID = try caller.tenantUUID
    let orderID = try Self.orderID(text)
    return try await self.context.reservations.withOrderLocked(orderID, tenantID: tenantID) { connection in
      guard let reservation = try await ReservationStore.load(orderID: orderID, tenantID: tenantID, on: connection) else {
        throw RPCError(code: .notFound, message: "No reservation for order \"\(orderID.prefix(64))\".")
      }
      if reservation.status == status { return reservation.message }
      guard reservation.status == .reserved else {
        throw RPCError(code: .failedPrecondition, message: "The reservation is \(reservation.status); it cannot be \(status).")
      }
      if status == .committed && reservation.expired {
        throw RPCError(code: .failedPrecondition, message: "The reservation has expired; reserve again.")
      }
      return try await Self.settle(reservation, to: status, actor: caller.subject, tenantID: tenantID, on: connection).message
    }
  }

  /// Moves a `reserved` reservation to `committed`, `released` or `expired`, with its stock.
  static func settle(
    _ reservation: Reservation, to status: ReservationStatus, actor: String, tenantID: UUID,
    on connection: PostgresConnection
  ) async throws -> Reservation {
    for line in Self.inStockOrder(reservation.lines) {
      let level = try await StockLedger.lock(productID: line.productID, location: line.location, tenantID: tenantID, on: connection)
      _ = try await StockLedger.apply(
        kind: status == .committed ? .commit : .release,
        onHandDelta: status == .committed ? -line.quantity : 0, reservedDelta: -line.quantity,
        reason: "order \(reservation.orderID) \(status)", actor: actor, reservationID: reservation.id, to: level,
        tenantID: tenantID, on: connection)
    }
    try await ReservationStore.setStatus(status, of: reservation.id, on: connection)
    var settled = reservation
    settled.status = status
    try await Outbox.append(type: "reservation_\(status)", payloadJSON: settled.payload, tenantID: tenantID, on: connection)
    return settled
  }

  /// Removes a reservation that holds no stock any more (`expired` or `released`, or `reserved`
  /// past its expiry) so that the order can be reserved again with `next`.
  ///
  /// One past its expiry that the sweeper has not reached yet is first expired as the sweeper
  /// would (on the same per-order advisory lock, which the caller holds), its stock given back.
  /// The stock rows of both the old lines and `next` are locked first, together, in the global
  /// order, so that this transaction never waits for a row while holding one that comes later.
  /// The old reservation's history stays in its movements and events.
  static func removeFinished(
    _ old: Reservation, before next: [ReservationLine], actor: String, tenantID: UUID, on connection: PostgresConnection
  ) async throws {
    if old.status == .reserved {
      guard old.expired else { throw RPCError(code: .internal, message: "An active reservation cannot be replaced.") }
      let rows = Set((old.lines + next).map { ReservationLine(productID: $0.productID, location: $0.location, quantity: 0) })
      for row in Self.inStockOrder(Array(rows)) {
        _ = try await StockLedger.lock(productID: row.productID, location: row.location, tenantID: tenantID, on: connection)
      }
      _ = try await Self.settle(old, to: .expired, actor: actor, tenantID: tenantID, on: connection)
    }
    try await ReservationStore.delete(old.id, on: connection)
  }

  /// `lines` in the one order used everywhere: stock rows are locked in it (so two orders never
  /// wait on each other in a cycle), and ``ReservationStore/load(orderID:tenantID:on:)`` reads lines back in it.
  /// By product id (the hex text orders as a uuid's bytes do), then location code byte by byte
  /// (`COLLATE "C"`).
  static func inStockOrder(_ lines: [ReservationLine]) -> [ReservationLine] {
    lines.sorted { a, b in
      let (left, right) = (a.productID.lowercased, b.productID.lowercased)
      return left != right ? left < right : a.location.utf8.lexicographicallyPrecedes(b.location.utf8)
    }
  }

  static func orderID(_ text: String) throws(RPCError) -> String {
    guard !text.isEmpty, text.utf8.count <= 128 else {
      throw RPCError(code: .invalidArgument, message: "order_id must be 1 to 128 bytes.")
    }
    return text
  }
}

/// Releases reservations whose time ran out (status `expired`), a batch at a time.
public struct ReservationSweeper: Sendable {
  let context: CatalogContext
  let interval: Duration

  public init(context: CatalogContext, interval: Duration = .seconds(1)) {
    self.context = context
    self.interval = interval
  }

  /// Sweeps until the task is cancelled.
  public func run() async {
    while !Task.isCancelled {
      do {
        let swept = try await self.sweepOnce()
        if swept > 0 { self.context.logger.info("reservations expired", metadata: ["count": "\(swept)"]) }
      } catch is CancellationError {
        return
      } catch {
        self.context.logger.warning("reservation sweep failed", metadata: ["error": "\(error)"])
      }
      try? await Task.sleep(for: self.interval)
    }
  }

  /// Expires up to 100 overdue reservations; returns how many.
  public func sweepOnce() async throws -> Int {
    let due = try await self.context.reservations.overdue(limit: 100)
    var swept = 0
    for (tenantID, orderID) in due {
      try await self.context.reservations.withOrderLocked(orderID, tenantID: tenantID) { connection in
        guard let reservation = try await ReservationStore.load(orderID: orderID, tenantID: tenantID, on: connection),
          reservation.status == .reserved, reservation.expired
        else { return }
        _ = try await ReservationsService.settle(reservation, to: .expired, actor: "sweeper", tenantID: tenantID, on: connection)
        swept += 1
      }
    }
    return swept
  }
}

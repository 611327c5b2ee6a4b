@testable import CatalogService
import CatalogSchema
import Foundation
import Migrations
import Postgres
import PostgresTestSupport
import RPCCore
import Testing

/// The catalog's stores called directly, without handlers or a caller, on a migrated schema.
@Suite("Catalog stores on PostgreSQL")
struct CatalogStoreTests {
  let tenantID = UUID()

  func withCatalog(_ body: (CatalogContext) async throws -> Void) async throws {
    try await withMigratedCatalog(prefix: "catstore", body)
  }

  /// A product stocked with `units` at each of `locations`.
  func product(_ sku: String, units: Int64, at locations: [String], in catalog: CatalogContext) async throws -> UUID {
    let product = try await catalog.products.create(
      sku: sku, name: sku, description: "", brand: "", categoryID: nil, price: "1.00", currency: "EUR",
      taxCode: "", attributesJSON: "{}", tenantID: self.tenantID)
    for code in locations {
      try await catalog.locations.put(LocationRecord(code: code, name: code), tenantID: self.tenantID)
      try await catalog.database.write { connection in
        let level = try await StockLedger.lock(productID: product.id, location: code, tenantID: self.tenantID, on: connection)
        _ = try await StockLedger.apply(
          kind: .restock, onHandDelta: units, reservedDelta: 0, reason: "", actor: "test", reservationID: nil, to: level,
          tenantID: self.tenantID, on: connection)
      }
    }
    return product.id
  }

  @Test func aReservationLoadsBackWithItsStatusAndItsLinesInStockOrder() async throws {
    try await withCatalog { catalog in
      let first = try await self.product("A", units: 5, at: ["L2", "L1"], in: catalog)
      let second = try await self.product("B", units: 5, at: ["L1"], in: catalog)
      let lines = [
        ReservationLine(productID: second, location: "L1", quantity: 1),
        ReservationLine(productID: first, location: "L2", quantity: 2),
        ReservationLine(productID: first, location: "L1", quantity: 3),
      ]
      let store = catalog.reservations
      let stored = try await store.withOrderLocked("o-1", tenantID: self.tenantID) { connection in
        try await ReservationStore.insert(orderID: "o-1", lines: lines, ttlSeconds: 60, tenantID: self.tenantID, on: connection)
      }
      #expect(stored.status == .reserved)
      let loaded = try await store.withOrderLocked("o-1", tenantID: self.tenantID) { connection in
        try await ReservationStore.load(orderID: "o-1", tenantID: self.tenantID, on: connection)
      }
      #expect(loaded?.id == stored.id)
      #expect(loaded?.status == .reserved)
      #expect(loaded?.expired == false)
      #expect(loaded?.lines == ReservationsService.inStockOrder(lines))

      let committed = try await store.withOrderLocked("o-1", tenantID: self.tenantID) { connection in
        try await ReservationStore.setStatus(.committed, of: stored.id, on: connection)
        return try await ReservationStore.load(orderID: "o-1", tenantID: self.tenantID, on: connection)
      }
      #expect(committed?.status == .committed)
      let raw = try await catalog.pool.query("SELECT status FROM reservations").first!.decode(String.self)
      #expect(raw == "committed")

      let gone = try await store.withOrderLocked("o-1", tenantID: self.tenantID) { connection in
        try await ReservationStore.delete(stored.id, on: connection)
        return try await ReservationStore.load(orderID: "o-1", tenantID: self.tenantID, on: connection)
      }
      #expect(gone == nil)
    }
  }

  @Test func theOrderLockKeepsItsKeySoOldAndNewCodeExcludeEachOther() async throws {
    try await withCatalog { catalog in
      try await catalog.reservations.withOrderLocked("o-7", tenantID: self.tenantID) { _ in
        try await catalog.pool.withConnection { other in
          // The key the handlers used before the stores: 'reservation:' || TENANT || ':' || order.
          let legacyKey = "reservation:" + self.tenantID.uuidString + ":o-7"
          let taken = try await other.query("SELECT pg_try_advisory_xact_lock(hashtextextended(\(legacyKey), 0))")
          #expect(try taken.first!.decode(Bool.self) == false)
          let otherOrder = try await other.query(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(\(legacyKey + "x"), 0))")
          #expect(try otherOrder.first!.decode(Bool.self) == true)
        }
      }
    }
  }

  @Test func movementsRecordTheirKindAndOnlyARestockSetsTheRestockTime() async throws {
    try await withCatalog { catalog in
      let product = try await self.product("A", units: 10, at: ["L1"], in: catalog)
      let restocked = try await catalog.database.read { connection in
        try await StockLedger.levels(productID: product, tenantID: self.tenantID, on: connection)
      }
      #expect(restocked.count == 1)
      #expect(restocked.first?.onHand == 10)
      let restockTime = try #require(restocked.first?.lastRestockAt)
      let corrected = try await catalog.database.write { connection in
        let level = try await StockLedger.lock(productID: product, location: "L1", tenantID: self.tenantID, on: connection)
        return try await StockLedger.apply(
          kind: .correction, onHandDelta: -4, reservedDelta: 0, reason: "count", actor: "test", reservationID: nil,
          to: level, tenantID: self.tenantID, on: connection)
      }
      #expect(corrected.onHand == 6)
      #expect(corrected.lastRestockAt == restockTime)
      let kinds = try await catalog.pool.query("SELECT kind FROM stock_movements ORDER BY id").decode(String.self)
      #expect(kinds == [MovementKind.restock.rawValue, MovementKind.correction.rawValue])
      #expect(kinds == ["restock", "correction"])
    }
  }

  @Test func productsRoundTripThroughTheStoreAndItsPreparedReads() async throws {
    try await withCatalog { catalog in
      let created = try await catalog.products.create(
        sku: "SKU-1", name: "One", description: "d", brand: "b", categoryID: nil, price: "12.50",
        currency: "EUR", taxCode: "t", attributesJSON: #"{"a":"1"}"#, tenantID: self.tenantID)
      #expect(try await catalog.products.product(id: created.id, tenantID: self.tenantID) == created)
      #expect(try await catalog.products.product(sku: "SKU-1", tenantID: self.tenantID) == created)
      #expect(try await catalog.products.product(sku: "SKU-1", tenantID: UUID()) == nil)
      var update = ProductUpdate()
      update.name = "Renamed"
      let updated = try #require(try await catalog.products.update(update, id: created.id, tenantID: self.tenantID))
      #expect(updated.name == "Renamed")
      #expect(updated.sku == "SKU-1")
      #expect(updated.brand == "b")
      #expect(try await catalog.products.archive(id: created.id, tenantID: self.tenantID)?.archived == true)
      let counts = try await catalog.products.counts(tenantID: self.tenantID)
      #expect(counts.active == 0 && counts.archived == 1)
      let missingCategory = await #expect(throws: RPCError.self) {
        var move = ProductUpdate()
        move.setsCategory = true
        move.categoryID = UUID()
        _ = try await catalog.products.update(move, id: created.id, tenantID: self.tenantID)
      }
      #expect(missingCategory?.code == .notFound)
    }
  }
}

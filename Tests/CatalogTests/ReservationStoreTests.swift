import Auth
@testable import Catalog
import Foundation
import Logging
import Migrations
import Postgres
import PostgresTestSupport
import Protos
import RPCCore
import Testing

/// The catalog's store on a real cluster: migrations applied to a fresh schema, the service
/// handlers called directly with a bound caller.
@Suite("Catalog store on PostgreSQL")
struct ReservationStoreTests {
  let tenant = UUID().uuidString.lowercased()
  let context = ServerContext(descriptor: MethodDescriptor(service: "catalog.v1.Test", method: "Call"), remotePeer: "test", localPeer: "test")

  func withCatalog(_ body: (CatalogContext) async throws -> Void) async throws {
    try await withTestSchema("catalog") { configuration in
      var pooled = PostgresPool.Configuration(connection: configuration)
      pooled.maximumConnections = 16
      let pool = PostgresPool(configuration: pooled, logger: testLogger)
      do {
        let runner = try MigrationRunner(schema: configuration.searchPath![0], migrations: CatalogMigrations.all, logger: testLogger)
        _ = try await runner.migrate(using: pool)
        try await body(CatalogContext(pool: pool, logger: testLogger))
      } catch {
        await pool.close()
        throw error
      }
      await pool.close()
    }
  }

  func asEditor<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
    try await Caller.$current.withValue(Caller(tenantID: self.tenant, subject: "tester", role: .editor), operation: body)
  }

  func stockedProduct(_ sku: String, units: Int64, at locations: [String], in catalog: CatalogContext) async throws -> String {
    try await self.asEditor {
      var product = Catalog_V1_Product()
      product.sku = sku
      product.name = sku
      product.price = Catalog_V1_Money()
      product.price?.amount = "1.00"
      product.price?.currency = "EUR"
      var create = Catalog_V1_CreateProductRequest()
      create.product = product
      let made = try await ProductsService(context: catalog).createProduct(request: create, context: self.context)
      let inventory = InventoryService(context: catalog)
      for code in locations {
        var location = Catalog_V1_Location()
        location.code = code
        _ = try await inventory.putLocation(request: location, context: self.context)
        var restock = Catalog_V1_RestockRequest()
        restock.productId = made.id
        restock.locationCode = code
        restock.quantity = units
        _ = try await inventory.restock(request: restock, context: self.context)
      }
      return made.id
    }
  }

  @Test func concurrentMultiLocationReservationsNeverOversellNorDeadlock() async throws {
    try await self.withCatalog { catalog in
      let locations = ["1101", "22D1", "32D1"]
      let a = try await self.stockedProduct("A", units: 6, at: locations, in: catalog)
      let b = try await self.stockedProduct("B", units: 6, at: locations, in: catalog)
      let service = ReservationsService(context: catalog)
      let outcomes = try await withThrowingTaskGroup(of: (Bool, [Catalog_V1_ReservationLine]).self) { group in
        for index in 0..<48 {
          group.addTask {
            var request = Catalog_V1_ReserveRequest()
            request.orderId = "order-\(index)"
            // Every order touches both products at two locations, listed in varying orders.
            var cells = [(a, locations[index % 3]), (b, locations[(index + 1) % 3]), (a, locations[(index + 2) % 3])]
            if index % 2 == 0 { cells.reverse() }
            request.lines = cells.map { product, code in
              var line = Catalog_V1_ReservationLine()
              line.productId = product
              line.locationCode = code
              line.quantity = 1
              return line
            }
            do {
              _ = try await self.asEditor { try await service.reserve(request: request, context: self.context) }
              return (true, request.lines)
            } catch let error as RPCError where error.code == .failedPrecondition {
              return (false, request.lines)
            }
          }
        }
        var all: [(Bool, [Catalog_V1_ReservationLine])] = []
        for try await outcome in group { all.append(outcome) }
        return all
      }
      var reserved: [String: Int64] = [:]
      for (ok, lines) in outcomes where ok {
        for line in lines { reserved[line.productId + "|" + line.locationCode, default: 0] += line.quantity }
      }
      #expect(outcomes.contains { !$0.0 }, "stock was scarce, so some orders must have been refused")
      let rows = try await catalog.pool.query(
        """
        SELECT s.product_id::text, s.location_code, s.on_hand, s.reserved, m.on_hand, m.reserved
        FROM stock s JOIN (SELECT product_id, location_code, sum(on_hand_delta) AS on_hand, sum(reserved_delta) AS reserved
                           FROM stock_movements GROUP BY 1, 2) m USING (product_id, location_code)
        """)
      #expect(rows.count == 6)
      for row in rows {
        let (product, code, onHand, held, movedOnHand, movedHeld) = try row.decode(
          (String, String, Int64, Int64, PostgresDecimal, PostgresDecimal).self)
        #expect(onHand == 6 && held <= onHand)
        #expect(held == reserved[product + "|" + code, default: 0])
        #expect(PostgresDecimal(onHand) == movedOnHand && PostgresDecimal(held) == movedHeld)
      }
    }
  }

  @Test func movementsAreInsertOnlyAndTheDatabaseRefusesOverselling() async throws {
    try await self.withCatalog { catalog in
      let product = try await self.stockedProduct("C", units: 2, at: ["1101"], in: catalog)
      await #expect(throws: PostgresError.self) {
        try await catalog.pool.query("UPDATE stock_movements SET on_hand_delta = 100")
      }
      await #expect(throws: PostgresError.self) { try await catalog.pool.query("DELETE FROM stock_movements") }
      // Even SQL that skips the service cannot reserve more than is on hand.
      let id = UUID(uuidString: product)!
      await #expect(throws: PostgresError.self) {
        try await catalog.pool.query("UPDATE stock SET reserved = 3 WHERE product_id = \(id)")
      }
      await #expect(throws: PostgresError.self) {
        try await catalog.pool.query("UPDATE stock SET on_hand = -1 WHERE product_id = \(id)")
      }
    }
  }

  @Test func aReimportedCSVLeavesTheSameRowsAndClients() async throws {
    try await self.withCatalog { catalog in
      let service = StockAnalyticsService(context: catalog)
      let header = SnapshotRow.csvHeader.joined(separator: "|")
      let csv = """
        \(header)
        2024-06-30|7|1101|Materia Prima|10|P1|L1|5|Bobina|Laminado a Frio|1.5|S1
        2024-06-30|3|1101|Materia Prima|10|P1|L2|95|Bobina|Laminado a Frio|2|S1
        2024-06-30|3|1101|Materia Prima|10|P1|L2|95|Bobina|Laminado a Frio|2.25|S1
        not|a|row

        """
      var chunk = Catalog_V1_CsvChunk()
      chunk.data = Array(csv.utf8)
      for _ in 0..<2 {
        let report = try await self.asEditor {
          try await service.importCsv(request: .elements([chunk]), context: self.context)
        }
        #expect(report.rowsRejected == 1 && report.errors.map(\.line) == [5])
      }
      let clients = try await catalog.pool.query("SELECT code, name FROM stock_clients ORDER BY name")
        .decode((String, String).self)
      #expect(clients.map(\.0) == ["3", "7"] && clients.map(\.1) == ["Cliente 1", "Cliente 2"])
      let rows = try await catalog.pool.query("SELECT lot, total_tonnes FROM stock_snapshots ORDER BY lot")
        .decode((String, PostgresDecimal).self)
      #expect(rows.map(\.0) == ["L1", "L2"] && rows.map(\.1) == ["1.5", "2.25"])
    }
  }
}

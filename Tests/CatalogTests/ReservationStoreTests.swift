import Auth
@testable import CatalogService
import CatalogSchema
import CatalogV1Protos
import Foundation
import Logging
import Migrations
import Postgres
import PostgresTestSupport
import RPCCore
import Testing

/// The catalog's store on a real cluster: migrations applied to a fresh schema, the service
/// handlers called directly with a bound caller.
@Suite("Catalog store on PostgreSQL")
struct ReservationStoreTests {
  let tenant = UUID().uuidString.lowercased()
  /// The context of a call by an editor of the test tenant.
  var context: ServerContext {
    var context = ServerContext(descriptor: MethodDescriptor(service: "catalog.v1.Test", method: "Call"), remotePeer: "test", localPeer: "test")
    context.caller = Caller(tenantID: self.tenant, subject: "tester", role: .editor)
    return context
  }

  func withCatalog(_ body: (CatalogContext) async throws -> Void) async throws {
    try await withMigratedCatalog(prefix: "catalog", maximumConnections: 16, body)
  }

  func stockedProduct(_ sku: String, units: Int64, at locations: [String], in catalog: CatalogContext) async throws -> String {
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
              _ = try await service.reserve(request: request, context: self.context)
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

  /// Reserve with an order id that already has a reservation: a retry of the same lines gets the
  /// stored reservation; other lines are ALREADY_EXISTS; an expired (swept or not) or released
  /// reservation is replaced by a new one, its stock given back first; a committed one is
  /// FAILED_PRECONDITION. The stock totals stay equal to the movement sums throughout.
  @Test func reservingAnOrderAgainDependsOnItsReservation() async throws {
    try await self.withCatalog { catalog in
      let product = try await self.stockedProduct("R", units: 10, at: ["1101", "22D1"], in: catalog)
      let service = ReservationsService(context: catalog)
      func reserve(_ order: String, _ cells: [(String, Int64)]) async throws -> Catalog_V1_Reservation {
        var request = Catalog_V1_ReserveRequest()
        request.orderId = order
        request.lines = cells.map { code, quantity in
          var line = Catalog_V1_ReservationLine()
          (line.productId, line.locationCode, line.quantity) = (product, code, quantity)
          return line
        }
        return try await service.reserve(request: request, context: self.context)
      }
      func code(_ body: () async throws -> Catalog_V1_Reservation) async -> RPCError.Code? {
        do {
          _ = try await body()
          return nil
        } catch let error as RPCError {
          return error.code
        } catch {
          return .unknown
        }
      }
      func expire(_ order: String) async throws {
        try await catalog.pool.query("UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_id = \(order)")
      }
      /// Reserved units per location, checked against the movements.
      func held() async throws -> [String: Int64] {
        let rows = try await catalog.pool.query(
          """
          SELECT s.location_code, s.reserved, (SELECT sum(reserved_delta) FROM stock_movements m
            WHERE m.product_id = s.product_id AND m.location_code = s.location_code)
          FROM stock s
          """
        ).decode((String, Int64, PostgresDecimal).self)
        for (_, reserved, moved) in rows { #expect(PostgresDecimal(reserved) == moved) }
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0.1) })
      }
      let now = Date().unixMilliseconds

      // A retry (lines split or listed differently) gets the same reservation.
      let first = try await reserve("o-1", [("1101", 2), ("22D1", 1)])
      let retry = try await reserve("o-1", [("22D1", 1), ("1101", 1), ("1101", 1)])
      #expect(retry.id == first.id && retry.status == "reserved" && retry.expiresAtMs == first.expiresAtMs)
      // Other lines for an active reservation are refused, and change nothing.
      #expect(await code { try await reserve("o-1", [("1101", 3), ("22D1", 1)]) } == .alreadyExists)
      #expect(await code { try await reserve("o-1", [("1101", 2)]) } == .alreadyExists)
      #expect(try await held() == ["1101": 2, "22D1": 1])

      // Expired, the sweeper not run yet: a new reservation with the lines asked now, the old
      // stock given back in the same transaction (only 2 of 1101 are free until its 2 are).
      _ = try await reserve("o-2", [("1101", 6)])
      try await expire("o-1")
      let renewed = try await reserve("o-1", [("1101", 4)])
      #expect(renewed.id != first.id && renewed.status == "reserved" && renewed.expiresAtMs > now)
      #expect(renewed.lines.map(\.quantity) == [4] && renewed.lines.map(\.locationCode) == ["1101"])
      #expect(try await held() == ["1101": 10, "22D1": 0])
      let statuses = try await catalog.pool.query("SELECT status, count(*)::int8 FROM reservations GROUP BY 1 ORDER BY 1")
        .decode((String, Int64).self)
      #expect(statuses.map(\.0) == ["reserved"] && statuses.map(\.1) == [2])
      // The sweeper finds nothing left to expire, and the new reservation commits.
      #expect(try await ReservationSweeper(context: catalog).sweepOnce() == 0)
      var commit = Catalog_V1_CommitReservationRequest()
      commit.orderId = "o-1"
      #expect(try await service.commit(request: commit, context: self.context).status == "committed")
      // A committed order is not reserved again, not even by a retry of its lines.
      #expect(await code { try await reserve("o-1", [("1101", 4)]) } == .failedPrecondition)

      // Expired and swept: the order can be reserved again.
      try await expire("o-2")
      #expect(try await ReservationSweeper(context: catalog).sweepOnce() == 1)
      let again = try await reserve("o-2", [("1101", 6)])
      #expect(again.status == "reserved" && again.expiresAtMs > now)
      #expect(try await held() == ["1101": 6, "22D1": 0])
      // Released: likewise.
      var release = Catalog_V1_ReleaseReservationRequest()
      release.orderId = "o-2"
      _ = try await service.release(request: release, context: self.context)
      #expect(try await held() == ["1101": 0, "22D1": 0])
      #expect(try await reserve("o-2", [("22D1", 5)]).status == "reserved")
      #expect(try await held() == ["1101": 0, "22D1": 5])
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
        let report = try await service.importCsv(request: .elements([chunk]), context: self.context)
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

  /// Fields may hold any character but NUL, U+001F included: two keys that only a joined text
  /// would confuse stay two keys, and the last row of each wins.
  @Test func repeatedKeysThatDifferOnlyAroundAUnitSeparatorStayApart() async throws {
    try await self.withCatalog { catalog in
      let service = StockAnalyticsService(context: catalog)
      func line(centre: String, product: String, tonnes: String) -> String {
        "2024-06-30|7|\(centre)|Materia Prima|10|\(product)|L1|5|Bobina|Laminado a Frio|\(tonnes)|S1"
      }
      // Joined with U+001F, (C␟, P) and (C, ␟P) both read "…C␟␟P…".
      let lines = [
        line(centre: "C\u{1F}", product: "P", tonnes: "1"), line(centre: "C", product: "\u{1F}P", tonnes: "2"),
        line(centre: "C\u{1F}", product: "P", tonnes: "3"), line(centre: "C", product: "\u{1F}P", tonnes: "4"),
      ]
      var chunk = Catalog_V1_CsvChunk()
      chunk.data = Array(([SnapshotRow.csvHeader.joined(separator: "|")] + lines).joined(separator: "\n").utf8)
      let report = try await service.importCsv(request: .elements([chunk]), context: self.context)
      #expect(report.rowsLoaded == 4 && report.rowsRejected == 0)
      let rows = try await catalog.pool.query("SELECT centre, product_code, total_tonnes::text FROM stock_snapshots")
        .decode((String, String, String).self)
      #expect(
        rows.map { "\($0.0)/\($0.1) \($0.2)".replacingOccurrences(of: "\u{1F}", with: "<US>") }.sorted() == [
          "C/<US>P 4.000", "C<US>/P 3.000",
        ])
    }
  }

  @Test func anImportReplacesTheTenantsRowsOfTheDatesItContainsAndNoOthers() async throws {
    try await self.withCatalog { catalog in
      let service = StockAnalyticsService(context: catalog)
      let header = SnapshotRow.csvHeader.joined(separator: "|")
      func importCSV(_ lines: [String]) async throws -> Catalog_V1_ImportReport {
        var chunk = Catalog_V1_CsvChunk()
        chunk.data = Array(([header] + lines).joined(separator: "\n").utf8)
        return try await service.importCsv(request: .elements([chunk]), context: self.context)
      }
      func rows() async throws -> [String] {
        try await catalog.pool.query(
          "SELECT snapshot_date::text || ' ' || lot || ' ' || total_tonnes::text || ' ' || days_in_stock FROM stock_snapshots ORDER BY 1"
        ).decode(String.self)
      }
      let first = try await importCSV([
        "2024-05-31|7|1101|Materia Prima|10|P1|L1|5|Bobina|Laminado a Frio|0.5|S1",
        "2024-05-31|7|1101|Materia Prima|10|P1|L2|+6|Bobina|Laminado a Frio|10000|S1",
        "2024-06-30|7|1101|Materia Prima|10|P1|L3|7|Bobina|Laminado a Frio|123456789012345.999|S1",
        "2024-06-30|8|1101|Materia Prima|10|P1|L4|0|Bobina|Laminado a Frio|0,001|S1",
      ])
      #expect(first.rowsLoaded == 4 && first.rowsRejected == 0 && first.clientsCreated == 2)
      #expect(
        try await rows() == [
          "2024-05-31 L1 0.500 5", "2024-05-31 L2 10000.000 6", "2024-06-30 L3 123456789012345.999 7",
          "2024-06-30 L4 0.001 0",
        ])
      // A file of 31/05/2024 only: that date's picture is replaced, June stays as it was.
      let second = try await importCSV(["31/05/2024| 7 |1101|Materia Prima|10|P1|L1 |9|Bobina|Laminado a Frio|1.234,5|S1"])
      #expect(second.rowsLoaded == 1 && second.clientsCreated == 0)
      #expect(
        try await rows() == [
          "2024-05-31 L1 1234.500 9", "2024-06-30 L3 123456789012345.999 7", "2024-06-30 L4 0.001 0",
        ])
      // The row-streaming import follows the same rule.
      var row = Catalog_V1_StockSnapshotRow()
      (row.date, row.clientCode, row.centre, row.productCode, row.lot) = ("2024-06-30", "9", "22D1", "P2", "L5")
      (row.daysInStock, row.totalTonnes, row.sku) = (3, "2.5", "S2")
      var negative = row
      negative.totalTonnes = "-1"
      let streamed = try await service.importSnapshots(request: .elements([row, negative]), context: self.context)
      #expect(streamed.rowsLoaded == 1 && streamed.errors.map(\.line) == [2] && streamed.clientsCreated == 1)
      #expect(try await rows() == ["2024-05-31 L1 1234.500 9", "2024-06-30 L5 2.500 3"])
      let clients = try await catalog.pool.query("SELECT code || '=' || name FROM stock_clients ORDER BY name")
        .decode(String.self)
      #expect(clients == ["7=Cliente 1", "8=Cliente 2", "9=Cliente 3"])
    }
  }
}

/// The byte-level checks of the stock import, without a database.
@Suite("Stock snapshot encoder")
struct SnapshotEncoderTests {
  func with<T>(_ text: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
    var text = text
    return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
  }

  @Test func datesDecimalsAndWholeNumbers() {
    #expect(self.with("2024-02-29") { SnapshotEncoder.date($0).map(SnapshotEncoder.iso) } == "2024-02-29")
    #expect(self.with("1/3/2024") { SnapshotEncoder.date($0).map(SnapshotEncoder.iso) } == "2024-03-01")
    #expect(self.with("2000-01-01") { SnapshotEncoder.date($0)?.days } == 0)
    #expect(self.with("1999-12-31") { SnapshotEncoder.date($0)?.days } == -1)
    #expect(self.with("2024-06-30") { SnapshotEncoder.date($0)?.days } == 8947)
    for bad in ["2023-02-29", "2024-13-01", "24-01-01", "2024-01", "2024-01-01-01", "", "2024/01/01", "0000-01-01", "٢٠٢٤-01-01"] {
      #expect(self.with(bad) { SnapshotEncoder.date($0) } == nil, "\(bad)")
    }
    #expect(self.with("12.345") { SnapshotEncoder.thousandths($0) } == 12_345)
    #expect(self.with("12,3") { SnapshotEncoder.thousandths($0) } == 12_300)
    #expect(self.with("1.234,5") { SnapshotEncoder.thousandths($0) } == 1_234_500)
    #expect(self.with("007") { SnapshotEncoder.thousandths($0) } == 7_000)
    for bad in ["-1", "1e5", "abc", "", ".5", "5.", "1.2345", "1.2.3", "1,2,3", "1234567890123456", "+1", " 1"] {
      #expect(self.with(bad) { SnapshotEncoder.thousandths($0) } == nil, "\(bad)")
    }
    #expect(self.with("+5") { SnapshotEncoder.wholeNumber($0) } == 5)
    #expect(self.with("-0") { SnapshotEncoder.wholeNumber($0) } == 0)
    #expect(self.with("2147483647") { SnapshotEncoder.wholeNumber($0) } == Int32.max)
    for bad in ["2147483648", "x", "", "-", "1.0"] {
      #expect(self.with(bad) { SnapshotEncoder.wholeNumber($0) } == nil, "\(bad)")
    }
  }

  @Test func badLinesAreRejectedWithTheirReasonAndGoodOnesEncoded() {
    var encoder = SnapshotEncoder(tenantID: UUID(), importID: UUID())
    let good = "2024-06-30|10110|32D1|Produto Acabado|10|RLGA0150-1250|L1|56|Rolo|Pré-Pintado|28.878|SKU-1"
    let lines: [(String, String?)] = [
      (good, nil),
      (good.replacingOccurrences(of: "|28.878|", with: "|-28.878|"), "es_totalestoque \"-28.878\" is not a decimal number of tonnes"),
      (good.replacingOccurrences(of: "|L1|", with: "| |"), "lote is empty or longer than 64"),
      (good.replacingOccurrences(of: "|10110|", with: "|10A10|"), "cod_cliente \"10A10\" is not a client code (1 to 20 digits)"),
      (good.replacingOccurrences(of: "|56|", with: "|-3|"), "dias_em_estoque \"-3\" is not a whole number of days"),
      (good + "|x", "expected 12 fields separated by |, found 13"),
      (good.replacingOccurrences(of: "|Rolo|", with: "|Ro\u{0}lo|"), "contains a NUL byte"),
      ("  \t ", nil),
    ]
    for (number, (line, _)) in lines.enumerated() {
      self.with(line + "\r") { encoder.add(line: $0, number: Int64(number + 1)) }
    }
    var latin1: [UInt8] = Array(good.utf8)
    latin1[latin1.firstIndex(of: 0xC3)!] = 0xE9
    latin1.withUnsafeBytes { encoder.add(line: $0, number: 9) }
    let expected = lines.enumerated().compactMap { index, line in line.1.map { (Int64(index + 1), $0) } }
      + [(Int64(9), "not valid UTF-8")]
    #expect(encoder.report.errors.map(\.line) == expected.map(\.0))
    #expect(encoder.report.errors.map(\.reason) == expected.map(\.1))
    #expect(encoder.report.rowsLoaded == 1 && encoder.clientCodes == ["10110"])
    // The same key again goes to the replacing path, not into the COPY data.
    let before = encoder.output.count
    self.with(good.replacingOccurrences(of: "|28.878|", with: "|1|")) { encoder.add(line: $0, number: 10) }
    #expect(encoder.output.count == before && encoder.repeated.values.map(\.tonnes) == ["1.000"])
  }
}

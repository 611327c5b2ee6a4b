import Auth
import Foundation
import ServiceKit
import Postgres
public import CatalogV1Protos
public import RPCCore

/// `catalog.v1.StockAnalytics`: the stock BI data (clients and daily stock snapshots).
public struct StockAnalyticsService: Catalog_V1_StockAnalytics.SimpleServiceProtocol {
  let context: CatalogContext

  public init(context: CatalogContext) {
    self.context = context
  }

  public func importSnapshots(request: RPCAsyncSequence<Catalog_V1_StockSnapshotRow>, context: ServerContext)
    async throws -> Catalog_V1_ImportReport
  {
    let tenantID = try context.requireCaller().tenantUUID
    let load = SnapshotImport(tenantID: tenantID, context: self.context)
    var encoder = load.makeEncoder()
    var rows = request.makeAsyncIterator()
    var line: Int64 = 0
    return try await load.run(encoder: &encoder) { encoder in
      guard let row = try await rows.next() else { return false }
      line += 1
      encoder.add(row, line: line)
      return true
    }
  }

  public func importCsv(request: RPCAsyncSequence<Catalog_V1_CsvChunk>, context: ServerContext) async throws
    -> Catalog_V1_ImportReport
  {
    let tenantID = try context.requireCaller().tenantUUID
    let load = SnapshotImport(tenantID: tenantID, context: self.context)
    var encoder = load.makeEncoder()
    var reader = StockCsvReader()
    var chunks = request.makeAsyncIterator()
    // The header first: a file that is not a stock export never opens a transaction.
    var ended = false
    while !reader.sawHeader {
      guard let chunk = try await chunks.next() else {
        try reader.finish(into: &encoder)
        ended = true
        break
      }
      try reader.feed(chunk.data, into: &encoder)
    }
    guard reader.sawHeader else { throw RPCError(code: .invalidArgument, message: "The file is empty: no header row.") }
    return try await load.run(encoder: &encoder) { encoder in
      if ended { return false }
      guard let chunk = try await chunks.next() else {
        try reader.finish(into: &encoder)
        return false
      }
      try reader.feed(chunk.data, into: &encoder)
      return true
    }
  }

  public func listStockClients(request: Catalog_V1_ListStockClientsRequest, context: ServerContext) async throws
    -> Catalog_V1_ListStockClientsResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query("SELECT code, name FROM stock_clients WHERE tenant_id = \(tenantID)")
    }
    var response = Catalog_V1_ListStockClientsResponse()
    response.clients = try rows.map { row in
      var client = Catalog_V1_StockClient()
      client.code = try row.decode(column: 0, as: String.self)
      client.name = try row.decode(column: 1, as: String.self)
      return client
    }.sorted { SnapshotImport.codeOrder($0.code, $1.code) }
    return response
  }

  public func getStockAging(request: Catalog_V1_StockAgingRequest, context: ServerContext) async throws
    -> Catalog_V1_StockAgingResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    var response = Catalog_V1_StockAgingResponse()
    guard let date = try await self.snapshotDate(request.snapshotDate, tenantID: tenantID) else { return response }
    let client: String? = request.clientCode.isEmpty ? nil : request.clientCode
    let centre: String? = request.centre.isEmpty ? nil : request.centre
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT b.bucket, coalesce(sum(s.total_tonnes), 0)::text, count(s.*)::int8
        FROM (VALUES (1, '0-30', 0, 30), (2, '31-60', 31, 60), (3, '61-90', 61, 90), (4, 'over 90', 91, 2147483647))
             AS b(position, bucket, low, high)
        LEFT JOIN stock_snapshots s ON s.tenant_id = \(tenantID) AND s.snapshot_date = \(date)::date
          AND s.days_in_stock BETWEEN b.low AND b.high
          AND (\(client)::text IS NULL OR s.client_code = \(client)::text)
          AND (\(centre)::text IS NULL OR s.centre = \(centre)::text)
        GROUP BY b.position, b.bucket ORDER BY b.position
        """)
    }
    response.snapshotDate = date
    response.buckets = try rows.map { row in
      var bucket = Catalog_V1_AgingBucket()
      bucket.bucket = try row.decode(column: 0, as: String.self)
      bucket.totalTonnes = try row.decode(column: 1, as: String.self)
      bucket.rows = try row.decode(column: 2, as: Int64.self)
      return bucket
    }
    return response
  }

  public func getStockTotals(request: Catalog_V1_StockTotalsRequest, context: ServerContext) async throws
    -> Catalog_V1_StockTotalsResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let column: String
    switch request.groupBy {
    case .client: column = "s.client_code"
    case .product: column = "s.product_code"
    case .centre: column = "s.centre"
    case .materialType: column = "s.material_type"
    default: throw RPCError(code: .invalidArgument, message: "group_by must name a dimension.")
    }
    var response = Catalog_V1_StockTotalsResponse()
    guard let date = try await self.snapshotDate(request.snapshotDate, tenantID: tenantID) else { return response }
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT \(unescaped: column), coalesce(c.name, \(unescaped: column)), sum(s.total_tonnes)::text, count(*)::int8
        FROM stock_snapshots s LEFT JOIN stock_clients c ON \(request.groupBy == .client)
          AND c.tenant_id = s.tenant_id AND c.code = s.client_code
        WHERE s.tenant_id = \(tenantID) AND s.snapshot_date = \(date)::date
        GROUP BY 1, 2 ORDER BY sum(s.total_tonnes) DESC, 1
        """)
    }
    response.snapshotDate = date
    response.totals = try rows.map { row in
      var total = Catalog_V1_StockTotal()
      total.key = try row.decode(column: 0, as: String.self)
      total.label = try row.decode(column: 1, as: String.self)
      total.totalTonnes = try row.decode(column: 2, as: String.self)
      total.rows = try row.decode(column: 3, as: Int64.self)
      return total
    }
    return response
  }

  /// The requested date (validated) or the latest snapshot's; `nil` when there is none.
  private func snapshotDate(_ text: String, tenantID: UUID) async throws -> String? {
    if !text.isEmpty {
      guard let date = SnapshotRow.isoDate(text) else {
        throw RPCError(code: .invalidArgument, message: "snapshot_date must be YYYY-MM-DD.")
      }
      return date
    }
    return try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        "SELECT max(snapshot_date)::text FROM stock_snapshots WHERE tenant_id = \(tenantID)"
      ).first?.decode(column: 0, as: String?.self)
    }
  }
}

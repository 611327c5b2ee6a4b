import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
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
    var response = Catalog_V1_ListStockClientsResponse()
    response.clients = try await self.context.stockSnapshots.clients(tenantID: tenantID).map { code, name in
      var client = Catalog_V1_StockClient()
      client.code = code
      client.name = name
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
    response.snapshotDate = date
    response.buckets = try await self.context.stockSnapshots.aging(
      date: date, client: client, centre: centre, tenantID: tenantID
    ).map { row in
      var bucket = Catalog_V1_AgingBucket()
      bucket.bucket = row.bucket
      bucket.totalTonnes = row.tonnes
      bucket.rows = row.rows
      return bucket
    }
    return response
  }

  public func getStockTotals(request: Catalog_V1_StockTotalsRequest, context: ServerContext) async throws
    -> Catalog_V1_StockTotalsResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let dimension: StockDimension
    switch request.groupBy {
    case .client: dimension = .client
    case .product: dimension = .product
    case .centre: dimension = .centre
    case .materialType: dimension = .materialType
    default: throw RPCError(code: .invalidArgument, message: "group_by must name a dimension.")
    }
    var response = Catalog_V1_StockTotalsResponse()
    guard let date = try await self.snapshotDate(request.snapshotDate, tenantID: tenantID) else { return response }
    response.snapshotDate = date
    response.totals = try await self.context.stockSnapshots.totals(by: dimension, date: date, tenantID: tenantID).map { row in
      var total = Catalog_V1_StockTotal()
      total.key = row.key
      total.label = row.label
      total.totalTonnes = row.tonnes
      total.rows = row.rows
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
    return try await self.context.stockSnapshots.latestDate(tenantID: tenantID)
  }
}

import Auth
import Foundation
import Postgres
public import Protos
public import RPCCore

/// `catalog.v1.StockBI`: stock snapshots of a steel distributor, their bulk imports and
/// aggregate queries.
public struct StockBIService: Catalog_V1_StockBI.SimpleServiceProtocol {
  let context: CatalogContext

  public init(context: CatalogContext) {
    self.context = context
  }

  // MARK: - Imports

  public func importStockSnapshots(request: RPCAsyncSequence<Catalog_V1_StockSnapshotRow>, context _: ServerContext)
    async throws -> Catalog_V1_ImportStockSummary
  {
    let tenantID = try Caller.require(.editor).tenantUUID
    var load = StockImport(context: self.context, tenantID: tenantID)
    do {
      var position: Int64 = 0
      for try await row in request {
        position += 1
        try await load.add(line: position) { () throws(RowRejection) in try StockSnapshotParsing.validate(row) }
      }
      return try await load.finish()
    } catch {
      await load.discard()
      throw error
    }
  }

  public func importStockCsv(request: RPCAsyncSequence<Catalog_V1_StockCsvChunk>, context _: ServerContext)
    async throws -> Catalog_V1_ImportStockSummary
  {
    let tenantID = try Caller.require(.editor).tenantUUID
    var load = StockImport(context: self.context, tenantID: tenantID)
    var reader = StockCSVLineReader()
    var sawHeader = false
    do {
      func take(_ line: StockCSVLineReader.Line) async throws {
        guard sawHeader else {
          guard line.text?.trimmingCharacters(in: .whitespaces) == StockSnapshotParsing.header else {
            throw RPCError(
              code: .invalidArgument,
              message: "Line 1 must be the header row \(StockSnapshotParsing.header).")
          }
          sawHeader = true
          return
        }
        if let text = line.text, text.allSatisfy({ $0 == " " || $0 == "\t" }) { return }
        try await load.add(line: line.number) { () throws(RowRejection) in
          guard let text = line.text else { throw RowRejection(reason: "the line is not valid UTF-8") }
          return try StockSnapshotParsing.parse(line: text[...])
        }
      }
      do {
        for try await chunk in request {
          for line in try reader.feed(chunk.data) { try await take(line) }
        }
        if let last = try reader.finish() { try await take(last) }
      } catch let error as StockCSVLineReader.LineTooLong {
        throw RPCError(
          code: .invalidArgument,
          message: "Line \(error.line) is longer than \(StockCSVLineReader.maximumLineBytes) bytes: not a stock CSV file.")
      }
      guard sawHeader else {
        throw RPCError(code: .invalidArgument, message: "The file is empty: it needs the header row.")
      }
      return try await load.finish()
    } catch {
      await load.discard()
      throw error
    }
  }

  // MARK: - Queries

  public func listStockClients(request: Catalog_V1_ListStockClientsRequest, context _: ServerContext) async throws
    -> Catalog_V1_ListStockClientsResponse
  {
    let tenantID = try Caller.require(.viewer).tenantUUID
    guard (0...1000).contains(request.pageSize) else {
      throw RPCError(code: .invalidArgument, message: "page_size must be in 0...1000.")
    }
    let size = Int64(request.pageSize == 0 ? 100 : request.pageSize)
    var after: Int64 = 0
    if !request.pageToken.isEmpty {
      guard let code = StockSnapshotParsing.clientCode(request.pageToken[...]) else {
        throw RPCError(code: .invalidArgument, message: "page_token is not a token this service issued.")
      }
      after = code
    }
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT code, name FROM stock_clients WHERE tenant_id = \(tenantID) AND code > \(after)
        ORDER BY code LIMIT \(size + 1)
        """)
    }
    var response = Catalog_V1_ListStockClientsResponse()
    for row in rows.prefix(Int(size)) {
      var client = Catalog_V1_StockClient()
      client.code = String(try row.decode(column: 0, as: Int64.self))
      client.name = try row.decode(column: 1, as: String.self)
      response.clients.append(client)
    }
    if rows.count > Int(size), let last = response.clients.last { response.nextPageToken = last.code }
    return response
  }

  static let buckets: [(label: String, min: Int32, max: Int32)] = [
    ("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), (">90", 91, -1),
  ]

  public func stockAging(request: Catalog_V1_StockAgingRequest, context _: ServerContext) async throws
    -> Catalog_V1_StockAgingResponse
  {
    let tenantID = try Caller.require(.viewer).tenantUUID
    let filter = try Filter(request.filter ?? Catalog_V1_StockFilter())
    var response = Catalog_V1_StockAgingResponse()
    var sums = [PostgresDecimal](repeating: 0, count: 4)
    var counts = [Int64](repeating: 0, count: 4)
    var total = PostgresDecimal(0)
    if let date = try await self.date(filter, tenantID: tenantID) {
      response.date = date
      let rows = try await self.context.database.translatingErrors {
        try await self.context.pool.query(
          """
          SELECT CASE WHEN days_in_stock <= 30 THEN 0 WHEN days_in_stock <= 60 THEN 1
                      WHEN days_in_stock <= 90 THEN 2 ELSE 3 END AS bucket,
                 sum(total_tonnes), count(*), sum(sum(total_tonnes)) OVER ()
          FROM stock_snapshots
          WHERE tenant_id = \(tenantID) AND snapshot_date = \(date)::date
            AND (\(filter.client) = 0 OR client_code = \(filter.client))
            AND (\(filter.centre) = '' OR centre = \(filter.centre))
            AND (\(filter.materialType) = '' OR material_type = \(filter.materialType))
          GROUP BY 1 ORDER BY 1
          """)
      }
      for row in rows {
        let (bucket, sum, count, all) = try row.decode((Int32, PostgresDecimal, Int64, PostgresDecimal).self)
        sums[Int(bucket)] = sum
        counts[Int(bucket)] = count
        total = all
      }
    }
    for (index, bucket) in Self.buckets.enumerated() {
      var message = Catalog_V1_StockAgingBucket()
      message.label = bucket.label
      message.minDays = bucket.min
      message.maxDays = bucket.max
      message.totalTonnes = sums[index].description
      message.rows = counts[index]
      response.buckets.append(message)
    }
    response.totalTonnes = total.description
    return response
  }

  public func stockTotals(request: Catalog_V1_StockTotalsRequest, context _: ServerContext) async throws
    -> Catalog_V1_StockTotalsResponse
  {
    let tenantID = try Caller.require(.viewer).tenantUUID
    let filter = try Filter(request.filter ?? Catalog_V1_StockFilter())
    // Fixed SQL per dimension; nothing from the request reaches the SQL text.
    let key: String
    let label: String
    switch request.groupBy {
    case .client: (key, label) = ("s.client_code", "min(c.name)")
    case .product: (key, label) = ("s.product_code", "min(s.product_form)")
    case .centre: (key, label) = ("s.centre", "s.centre")
    case .materialType: (key, label) = ("s.material_type", "s.material_type")
    case .unspecified, .unrecognized:
      throw RPCError(code: .invalidArgument, message: "group_by must be CLIENT, PRODUCT, CENTRE or MATERIAL_TYPE.")
    }
    var response = Catalog_V1_StockTotalsResponse()
    guard let date = try await self.date(filter, tenantID: tenantID) else { return response }
    response.date = date
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT \(unescaped: key)::text, \(unescaped: label), sum(s.total_tonnes), count(*)
        FROM stock_snapshots s JOIN stock_clients c ON c.tenant_id = s.tenant_id AND c.code = s.client_code
        WHERE s.tenant_id = \(tenantID) AND s.snapshot_date = \(date)::date
          AND (\(filter.client) = 0 OR s.client_code = \(filter.client))
          AND (\(filter.centre) = '' OR s.centre = \(filter.centre))
          AND (\(filter.materialType) = '' OR s.material_type = \(filter.materialType))
        GROUP BY \(unescaped: key) ORDER BY 3 DESC, \(unescaped: key)
        """)
    }
    for row in rows {
      let (key, label, sum, count) = try row.decode((String, String, PostgresDecimal, Int64).self)
      var total = Catalog_V1_StockTotal()
      total.key = key
      total.label = label
      total.totalTonnes = sum.description
      total.rows = count
      response.totals.append(total)
    }
    return response
  }

  /// A validated `StockFilter`.
  struct Filter {
    var date: String?
    /// 0 means every client.
    var client: Int64
    var centre: String
    var materialType: String

    init(_ message: Catalog_V1_StockFilter) throws(RPCError) {
      if message.date.isEmpty {
        self.date = nil
      } else {
        guard let date = StockSnapshotParsing.date(message.date[...]) else {
          throw RPCError(code: .invalidArgument, message: "filter.date must be YYYY-MM-DD.")
        }
        self.date = date
      }
      if message.clientCode.isEmpty {
        self.client = 0
      } else {
        guard let code = StockSnapshotParsing.clientCode(message.clientCode[...]) else {
          throw RPCError(code: .invalidArgument, message: "filter.client_code must be a positive whole number.")
        }
        self.client = code
      }
      self.centre = message.centre
      self.materialType = message.materialType
    }
  }

  /// The filter's date, or the tenant's newest snapshot date; `nil` when it has none.
  private func date(_ filter: Filter, tenantID: UUID) async throws(RPCError) -> String? {
    if let date = filter.date { return date }
    return try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        "SELECT max(snapshot_date)::text FROM stock_snapshots WHERE tenant_id = \(tenantID)"
      ).first?.decode(column: 0, as: String?.self)
    }
  }
}

import Foundation
import ServiceKit
import Postgres
import Protos
import RPCCore

/// Validated stock snapshot rows, and loading them in batches.
struct SnapshotRow: Sendable, Hashable {
  var date: String
  var clientCode: String
  var centre: String
  var materialType: String
  var origin: String
  var productCode: String
  var lot: String
  var daysInStock: Int32
  var productForm: String
  var merchandiseGroup: String
  var tonnes: PostgresDecimal
  var sku: String

  /// The columns of the export file, in order.
  static let csvHeader = [
    "data", "cod_cliente", "es_centro", "tipo_material", "origem", "cod_produto", "lote", "dias_em_estoque",
    "produto", "grupo_mercadoria", "es_totalestoque", "SKU",
  ]

  struct Invalid: Error {
    let reason: String
  }

  init(_ row: Catalog_V1_StockSnapshotRow) throws(Invalid) {
    try self.init(
      date: row.date, clientCode: row.clientCode, centre: row.centre, materialType: row.materialType, origin: row.origin,
      productCode: row.productCode, lot: row.lot, days: String(row.daysInStock), productForm: row.productForm,
      merchandiseGroup: row.merchandiseGroup, tonnes: row.totalTonnes, sku: row.sku)
  }

  /// One line of the pipe-delimited export.
  init(csvFields fields: [Substring]) throws(Invalid) {
    guard fields.count == Self.csvHeader.count else {
      throw Invalid(reason: "expected \(Self.csvHeader.count) fields separated by |, found \(fields.count)")
    }
    let f = fields.map { $0.trimmingCharacters(in: .whitespaces) }
    try self.init(
      date: f[0], clientCode: f[1], centre: f[2], materialType: f[3], origin: f[4], productCode: f[5], lot: f[6],
      days: f[7], productForm: f[8], merchandiseGroup: f[9], tonnes: f[10], sku: f[11])
  }

  init(
    date: String, clientCode: String, centre: String, materialType: String, origin: String, productCode: String,
    lot: String, days: String, productForm: String, merchandiseGroup: String, tonnes: String, sku: String
  ) throws(Invalid) {
    guard let isoDate = Self.isoDate(date) else {
      throw Invalid(reason: "data \"\(date.prefix(20))\" is not a date (YYYY-MM-DD or DD/MM/YYYY)")
    }
    for (name, value) in [("es_centro", centre), ("cod_produto", productCode), ("lote", lot)] {
      guard !value.isEmpty, value.count <= 64 else { throw Invalid(reason: "\(name) is empty or longer than 64") }
    }
    guard !clientCode.isEmpty, clientCode.count <= 20, clientCode.allSatisfy({ $0.isASCII && $0.isNumber }) else {
      throw Invalid(reason: "cod_cliente \"\(clientCode.prefix(24))\" is not a client code (1 to 20 digits)")
    }
    guard let days = Int32(days), days >= 0 else {
      throw Invalid(reason: "dias_em_estoque \"\(days.prefix(20))\" is not a whole number of days")
    }
    guard let amount = Self.tonnes(tonnes) else {
      throw Invalid(reason: "es_totalestoque \"\(tonnes.prefix(20))\" is not a decimal number of tonnes")
    }
    self.date = isoDate
    self.clientCode = clientCode
    self.centre = centre
    self.materialType = materialType
    self.origin = origin
    self.productCode = productCode
    self.lot = lot
    self.daysInStock = days
    self.productForm = productForm
    self.merchandiseGroup = merchandiseGroup
    self.tonnes = amount
    self.sku = sku
  }

  /// The row's identity: re-importing it replaces it.
  var key: String { [self.date, self.clientCode, self.centre, self.productCode, self.lot].joined(separator: "\u{1F}") }

  static func isoDate(_ text: String) -> String? {
    let parts: [Substring]
    let dayFirst: Bool
    if text.contains("-") {
      parts = text.split(separator: "-", omittingEmptySubsequences: false)
      dayFirst = false
    } else {
      parts = text.split(separator: "/", omittingEmptySubsequences: false)
      dayFirst = true
    }
    guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return nil }
    let (year, month, day) = dayFirst ? (parts[2], parts[1], parts[0]) : (parts[0], parts[1], parts[2])
    guard year.count == 4, let y = Int(year), let m = Int(month), let d = Int(day), (1...12).contains(m) else { return nil }
    let daysInMonth = [31, (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    guard (1...daysInMonth[m - 1]).contains(d) else { return nil }
    return String(format: "%04d-%02d-%02d", y, m, d)
  }

  /// "12.345", "12,345" (decimal comma) or "1.234,5" (dot thousands, decimal comma).
  static func tonnes(_ text: String) -> PostgresDecimal? {
    var normalized = text
    if normalized.contains(",") {
      normalized = normalized.replacingOccurrences(of: ".", with: "").replacingOccurrences(of: ",", with: ".")
    }
    let digits = normalized
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
      digits.filter({ $0 == "." }).count <= 1, !digits.hasPrefix("."), !digits.hasSuffix("."),
      (digits.split(separator: ".").first?.count ?? 0) <= 15, (digits.split(separator: ".").dropFirst().first?.count ?? 0) <= 3
    else { return nil }
    return PostgresDecimal(normalized)
  }
}

/// Collects rows and writes them in batches; creates missing clients.
struct SnapshotLoader {
  let tenantID: UUID
  let context: CatalogContext
  private(set) var report = Catalog_V1_ImportReport()
  private var batch: [String: SnapshotRow] = [:]
  /// Every client code of the import, for ``finish()``.
  private var clientCodes: Set<String> = []
  static let batchSize = 1000

  init(tenantID: UUID, context: CatalogContext) {
    self.tenantID = tenantID
    self.context = context
  }

  mutating func reject(line: Int64, reason: String) {
    self.report.rowsRejected += 1
    if self.report.errors.count < 1000 {
      var error = Catalog_V1_RowError()
      error.line = line
      error.reason = reason
      self.report.errors.append(error)
    }
  }

  mutating func add(_ row: SnapshotRow) async throws(RPCError) {
    self.batch[row.key] = row
    self.clientCodes.insert(row.clientCode)
    if self.batch.count >= Self.batchSize { try await self.flush() }
  }

  /// Writes the pending rows in one statement: an upsert from arrays (`unnest`), so one round
  /// trip carries the whole batch.
  mutating func flush() async throws(RPCError) {
    guard !self.batch.isEmpty else { return }
    let rows = Array(self.batch.values)
    self.batch.removeAll(keepingCapacity: true)
    let tenantID = self.tenantID
    try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        INSERT INTO stock_snapshots (tenant_id, snapshot_date, client_code, centre, material_type, origin, product_code,
          lot, days_in_stock, product_form, merchandise_group, total_tonnes, sku)
        SELECT \(tenantID), d::date, c, ce, mt, o, pc, l, di::int4, pf, mg, t::numeric, s
        FROM unnest(\(rows.map(\.date))::text[], \(rows.map(\.clientCode))::text[], \(rows.map(\.centre))::text[],
                    \(rows.map(\.materialType))::text[], \(rows.map(\.origin))::text[], \(rows.map(\.productCode))::text[],
                    \(rows.map(\.lot))::text[], \(rows.map { String($0.daysInStock) })::text[], \(rows.map(\.productForm))::text[],
                    \(rows.map(\.merchandiseGroup))::text[], \(rows.map { $0.tonnes.description })::text[], \(rows.map(\.sku))::text[])
          AS t(d, c, ce, mt, o, pc, l, di, pf, mg, t, s)
        ON CONFLICT (tenant_id, snapshot_date, client_code, centre, product_code, lot) DO UPDATE SET
          material_type = EXCLUDED.material_type, origin = EXCLUDED.origin, days_in_stock = EXCLUDED.days_in_stock,
          product_form = EXCLUDED.product_form, merchandise_group = EXCLUDED.merchandise_group,
          total_tonnes = EXCLUDED.total_tonnes, sku = EXCLUDED.sku, imported_at = now()
        """)
    }
    self.report.rowsLoaded += Int64(rows.count)
  }

  /// Writes what is pending, then creates the clients the import named that do not exist yet,
  /// as `Cliente N`: numbered on from the tenant's client count, in ascending code order over
  /// the whole import (numeric codes numerically).
  mutating func finish() async throws(RPCError) {
    try await self.flush()
    guard !self.clientCodes.isEmpty else { return }
    let tenantID = self.tenantID
    let codes = Array(self.clientCodes)
    let created = try await self.context.database.transaction(on: self.context.pool) { connection in
      try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("stock_clients:" + tenantID.uuidString), 0))")
      let known = Set(
        try await connection.query(
          "SELECT code FROM stock_clients WHERE tenant_id = \(tenantID) AND code = ANY(\(codes))"
        ).map { try $0.decode(column: 0, as: String.self) })
      let missing = codes.filter { !known.contains($0) }.sorted { Self.codeOrder($0, $1) }
      guard !missing.isEmpty else { return Int64(0) }
      let count = try await connection.query("SELECT count(*)::int8 FROM stock_clients WHERE tenant_id = \(tenantID)")
        .first!.decode(column: 0, as: Int64.self)
      let names = missing.indices.map { "Cliente \(count + Int64($0) + 1)" }
      try await connection.query(
        """
        INSERT INTO stock_clients (tenant_id, code, name)
        SELECT \(tenantID), code, name FROM unnest(\(missing)::text[], \(names)::text[]) AS t(code, name)
        """)
      return Int64(missing.count)
    }
    self.report.clientsCreated += created
  }

  /// Numeric codes in numeric order, others after them in text order.
  static func codeOrder(_ a: String, _ b: String) -> Bool {
    switch (Int64(a), Int64(b)) {
    case let (x?, y?): x < y
    case (_?, nil): true
    case (nil, _?): false
    case (nil, nil): a < b
    }
  }
}

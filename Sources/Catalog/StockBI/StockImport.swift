import Foundation
import Postgres
import Protos
import RPCCore

/// One import of stock snapshot rows into a tenant.
///
/// Good rows are COPYed in batches into the unlogged `stock_import_staging` table under this
/// import's id while the client streams; ``finish()`` then, in one transaction, creates the
/// missing clients ("Cliente N" in code order, after the tenant's existing clients), upserts the
/// snapshots (the last line of a date, client, centre, product code and lot wins; unchanged rows
/// are left alone, so a re-import changes nothing) and deletes the staging rows. Staging first
/// means client numbering sees every code of the file, and the load is all good rows or none.
struct StockImport {
  static let batchSize = 5000
  static let maximumReportedErrors = 1000

  let context: CatalogContext
  let tenantID: UUID
  let importID = UUID()
  private var batch: [(line: Int64, row: StockSnapshot)] = []
  private(set) var rowsRead: Int64 = 0
  private var rejected: Int64 = 0
  private var errors: [Catalog_V1_ImportRowError] = []
  private var staged = false

  init(context: CatalogContext, tenantID: UUID) {
    self.context = context
    self.tenantID = tenantID
    self.batch.reserveCapacity(Self.batchSize)
  }

  /// Records a row that was read: validated, or refused with a reason.
  mutating func add(line: Int64, _ parse: () throws(RowRejection) -> StockSnapshot) async throws(RPCError) {
    self.rowsRead += 1
    do {
      self.batch.append((line, try parse()))
    } catch {
      self.reject(line: line, reason: error.reason)
    }
    if self.batch.count >= Self.batchSize { try await self.flush() }
  }

  private mutating func reject(line: Int64, reason: String) {
    self.rejected += 1
    if self.errors.count < Self.maximumReportedErrors {
      var error = Catalog_V1_ImportRowError()
      error.line = line
      error.reason = reason
      self.errors.append(error)
    }
  }

  /// COPYs the current batch into staging.
  private mutating func flush() async throws(RPCError) {
    guard !self.batch.isEmpty else { return }
    let rows = self.batch
    self.batch.removeAll(keepingCapacity: true)
    self.staged = true
    let (importID, tenantID) = (self.importID, self.tenantID)
    try await self.context.database.translatingErrors {
      try await self.context.pool.withConnection { connection in
        try await connection.copyFrom(table: "stock_import_staging", columns: Self.stagingColumns) { writer in
          for (line, row) in rows {
            try await writer.writeRow(
              importID, tenantID, line, row.date, row.clientCode, row.centre, row.materialType, row.origin,
              row.productCode, row.lot, row.daysInStock, row.productForm, row.merchandiseGroup, row.totalTonnes, row.sku)
          }
        }
      }
    }
  }

  static let stagingColumns = [
    "import_id", "tenant_id", "line", "snapshot_date", "client_code", "centre", "material_type", "origin",
    "product_code", "lot", "days_in_stock", "product_form", "merchandise_group", "total_tonnes", "sku",
  ]

  /// Loads everything staged and reports what happened.
  mutating func finish() async throws(RPCError) -> Catalog_V1_ImportStockSummary {
    try await self.flush()
    var summary = Catalog_V1_ImportStockSummary()
    summary.rowsRead = self.rowsRead
    summary.rowsRejected = self.rejected
    summary.errors = self.errors
    guard self.staged else { return summary }
    let (importID, tenantID) = (self.importID, self.tenantID)
    let (created, counts) = try await self.context.database.transaction(on: self.context.pool) { connection in
      // Imports of a tenant take turns: client numbering and upserts never interleave.
      try await connection.query(
        "SELECT pg_advisory_xact_lock(hashtextextended(\("stock_import:" + tenantID.uuidString), 0))")
      let created = try await connection.query(
        """
        WITH missing AS (
          SELECT DISTINCT s.client_code AS code FROM stock_import_staging s
          WHERE s.import_id = \(importID) AND s.tenant_id = \(tenantID)
            AND NOT EXISTS (SELECT 1 FROM stock_clients c WHERE c.tenant_id = \(tenantID) AND c.code = s.client_code)),
        existing AS (SELECT count(*) AS n FROM stock_clients WHERE tenant_id = \(tenantID))
        INSERT INTO stock_clients (tenant_id, code, name)
        SELECT \(tenantID), missing.code, 'Cliente ' || (existing.n + row_number() OVER (ORDER BY missing.code))
        FROM missing, existing
        RETURNING code, name
        """
      ).map { row in (try row.decode(column: 0, as: Int64.self), try row.decode(column: 1, as: String.self)) }
      let counts = try await connection.query(
        """
        WITH latest AS (
          SELECT DISTINCT ON (snapshot_date, client_code, centre, product_code, lot) *
          FROM stock_import_staging WHERE import_id = \(importID) AND tenant_id = \(tenantID)
          ORDER BY snapshot_date, client_code, centre, product_code, lot, line DESC),
        upserted AS (
          INSERT INTO stock_snapshots AS s (tenant_id, snapshot_date, client_code, centre, material_type, origin,
            product_code, lot, days_in_stock, product_form, merchandise_group, total_tonnes, sku)
          SELECT tenant_id, snapshot_date, client_code, centre, material_type, origin, product_code, lot,
            days_in_stock, product_form, merchandise_group, total_tonnes, sku
          FROM latest
          ON CONFLICT (tenant_id, snapshot_date, client_code, centre, product_code, lot) DO UPDATE SET
            material_type = EXCLUDED.material_type, origin = EXCLUDED.origin, days_in_stock = EXCLUDED.days_in_stock,
            product_form = EXCLUDED.product_form, merchandise_group = EXCLUDED.merchandise_group,
            total_tonnes = EXCLUDED.total_tonnes, sku = EXCLUDED.sku
          WHERE (s.material_type, s.origin, s.days_in_stock, s.product_form, s.merchandise_group, s.total_tonnes, s.sku)
            IS DISTINCT FROM (EXCLUDED.material_type, EXCLUDED.origin, EXCLUDED.days_in_stock, EXCLUDED.product_form,
              EXCLUDED.merchandise_group, EXCLUDED.total_tonnes, EXCLUDED.sku)
          RETURNING (xmax::text = '0') AS inserted)
        SELECT (SELECT count(*) FROM latest), count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM upserted
        """
      ).first!.decode((Int64, Int64, Int64).self)
      try await connection.query(
        "DELETE FROM stock_import_staging WHERE import_id = \(importID) AND tenant_id = \(tenantID)")
      return (created, counts)
    }
    self.staged = false
    let (distinct, inserted, updated) = counts
    summary.rowsInserted = inserted
    summary.rowsUpdated = updated
    summary.rowsUnchanged = distinct - inserted - updated
    summary.clientsCreatedCount = Int64(created.count)
    summary.clientsCreated = created.sorted { $0.0 < $1.0 }.prefix(Self.maximumReportedErrors).map { code, name in
      var client = Catalog_V1_StockClient()
      client.code = String(code)
      client.name = name
      return client
    }
    return summary
  }

  /// Deletes what a failed or abandoned import staged.
  func discard() async {
    guard self.staged else { return }
    do {
      try await self.context.pool.query(
        "DELETE FROM stock_import_staging WHERE import_id = \(self.importID) AND tenant_id = \(self.tenantID)")
    } catch {
      self.context.logger.warning(
        "cannot delete staged import rows", metadata: ["import.id": "\(self.importID)", "error": "\(error)"])
    }
  }
}

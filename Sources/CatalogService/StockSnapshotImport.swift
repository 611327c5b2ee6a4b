#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import Postgres
import PostgresRPC
import CatalogV1Protos
import RPCCore

/// A stock snapshot row as text, for the rare rows that take the slow path of an import (see
/// ``SnapshotEncoder/repeated``); and the file's header.
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
  var tonnes: String
  var sku: String

  /// The columns of the export file, in order.
  static let csvHeader = [
    "data", "cod_cliente", "es_centro", "tipo_material", "origem", "cod_produto", "lote", "dias_em_estoque",
    "produto", "grupo_mercadoria", "es_totalestoque", "SKU",
  ]

  /// The row's identity: re-importing it replaces it.
  ///
  /// The fields themselves, not one string joining them: a field may hold any character but NUL
  /// (a separator such as U+001F included), so no joined text keeps two different keys apart.
  struct Key: Hashable, Sendable {
    var date: String
    var clientCode: String
    var centre: String
    var productCode: String
    var lot: String
  }

  var key: Key {
    Key(date: self.date, clientCode: self.clientCode, centre: self.centre, productCode: self.productCode, lot: self.lot)
  }

  /// `YYYY-MM-DD` or `DD/MM/YYYY` as `YYYY-MM-DD`, or `nil` when it is not a date.
  static func isoDate(_ text: String) -> String? {
    var text = text
    return text.withUTF8 { SnapshotEncoder.date(UnsafeRawBufferPointer($0)).map(SnapshotEncoder.iso) }
  }

}

/// Loads one import (a CSV file or a stream of rows) in one transaction.
///
/// An import is a complete picture of the stock of every snapshot date it contains: its good
/// rows replace the tenant's rows of those dates (rows of those dates that the import does not
/// contain are gone afterwards; other dates are untouched), so importing the same file again
/// changes nothing. Within an import the last row of a key (date, client, centre, product code,
/// lot) wins. Imports of one tenant run one after the other (an advisory lock).
///
/// How: the rows stream into `stock_snapshots` through one binary `COPY`, tagged with the
/// import's id, while the upload is still arriving; then rows with a repeated key replace their
/// earlier row, the tenant's older rows of the imported dates are deleted, and missing clients
/// are created. The table has no per-row B-tree to maintain (a BRIN index), which is what keeps
/// COPY close to a plain table's speed; the uniqueness of keys is this type's job.
struct SnapshotImport {
  let tenantID: UUID
  let context: CatalogContext
  let importID = UUID()

  init(tenantID: UUID, context: CatalogContext) {
    self.tenantID = tenantID
    self.context = context
  }

  func makeEncoder() -> SnapshotEncoder {
    SnapshotEncoder(tenantID: self.tenantID, importID: self.importID)
  }

  /// Runs the import: `produce` adds the next piece of input (a chunk, a row) to the encoder and
  /// returns `false` once the input has ended. Encoded rows go to the database as they come.
  func run(
    encoder: inout SnapshotEncoder,
    produce: (inout SnapshotEncoder) async throws -> Bool
  ) async throws -> Catalog_V1_ImportReport {
    let tenantID = self.tenantID
    let importID = self.importID
    // Not `write`: the body consumes the upload, so it cannot run a second time.
    let created = try await self.context.database.translating {
      try await self.context.pool.withTransaction { connection in
        try await connection.lock(AdvisoryLock("stock_import", key: tenantID.uuidString))
        let earlierDates = Set(
          try await connection.query(
            "SELECT DISTINCT snapshot_date::text FROM stock_snapshots WHERE tenant_id = \(tenantID)"
          ).decode(String.self))

        try await connection.copyFrom(table: "stock_snapshots", columns: SnapshotEncoder.columns, format: .binary) {
          writer in
          var more = true
          while more {
            if encoder.output.count >= 1 << 18 {
              try await writer.writeEncoded(encoder.output)
              encoder.output.removeAll(keepingCapacity: true)
            }
            more = try await produce(&encoder)
          }
          try await writer.writeEncoded(encoder.output)
          encoder.output.removeAll()
        }

        try await Self.replaceRepeated(Array(encoder.repeated.values), importID: importID, tenantID: tenantID, on: connection)
        let replaced = encoder.dates.values.filter { earlierDates.contains($0) }
        if !replaced.isEmpty {
          try await connection.query(
            """
            DELETE FROM stock_snapshots
            WHERE tenant_id = \(tenantID) AND snapshot_date = ANY(\(replaced)::date[]) AND import_id <> \(importID)
            """)
        }
        return try await Self.createClients(encoder.clientCodes, tenantID: tenantID, on: connection)
      }
    }
    var report = encoder.report
    report.clientsCreated = created
    return report
  }

  /// Rows whose key was seen earlier in the import replace the earlier row (by exact key: a row
  /// that only shared a hash replaces nothing and is simply added).
  private static func replaceRepeated(
    _ rows: [SnapshotRow], importID: UUID, tenantID: UUID, on connection: PostgresConnection
  ) async throws {
    var start = 0
    while start < rows.count {
      let batch = rows[start..<min(rows.count, start + 5000)]
      start += batch.count
      try await connection.query(
        """
        WITH t AS (
          SELECT * FROM unnest(\(batch.map(\.date))::date[], \(batch.map(\.clientCode))::text[], \(batch.map(\.centre))::text[],
                               \(batch.map(\.materialType))::text[], \(batch.map(\.origin))::text[], \(batch.map(\.productCode))::text[],
                               \(batch.map(\.lot))::text[], \(batch.map(\.daysInStock))::int4[], \(batch.map(\.productForm))::text[],
                               \(batch.map(\.merchandiseGroup))::text[], \(batch.map(\.tonnes))::numeric[], \(batch.map(\.sku))::text[])
            AS t(d, c, ce, mt, o, pc, l, di, pf, mg, tt, s)),
        earlier AS (
          DELETE FROM stock_snapshots x USING t
          WHERE x.tenant_id = \(tenantID) AND x.import_id = \(importID) AND x.snapshot_date = t.d AND x.client_code = t.c
            AND x.centre = t.ce AND x.product_code = t.pc AND x.lot = t.l)
        INSERT INTO stock_snapshots (import_id, tenant_id, snapshot_date, client_code, centre, material_type, origin,
          product_code, lot, days_in_stock, product_form, merchandise_group, total_tonnes, sku)
        SELECT \(importID), \(tenantID), d, c, ce, mt, o, pc, l, di, pf, mg, tt, s FROM t
        """)
    }
  }

  /// Creates the clients the import named that do not exist yet, as `Cliente N`: numbered on
  /// from the tenant's client count, in ascending code order over the whole import (numeric
  /// codes numerically).
  private static func createClients(
    _ codes: [String], tenantID: UUID, on connection: PostgresConnection
  ) async throws -> Int64 {
    guard !codes.isEmpty else { return 0 }
    try await connection.lock(AdvisoryLock("stock_clients", key: tenantID.uuidString))
    let known = Set(
      try await connection.query(
        "SELECT code FROM stock_clients WHERE tenant_id = \(tenantID) AND code = ANY(\(codes))"
      ).decode(String.self))
    let missing = codes.filter { !known.contains($0) }.sorted { Self.codeOrder($0, $1) }
    guard !missing.isEmpty else { return 0 }
    let count = try await connection.query("SELECT count(*)::int8 FROM stock_clients WHERE tenant_id = \(tenantID)")
      .first!.decode(Int64.self)
    let names = missing.indices.map { "Cliente \(count + Int64($0) + 1)" }
    try await connection.query(
      """
      INSERT INTO stock_clients (tenant_id, code, name)
      SELECT \(tenantID), code, name FROM unnest(\(missing)::text[], \(names)::text[]) AS t(code, name)
      """)
    return Int64(missing.count)
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

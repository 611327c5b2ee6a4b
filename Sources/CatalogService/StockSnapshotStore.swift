#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import RPCCore

/// A dimension stock totals are grouped by.
enum StockDimension: Sendable {
  case client, product, centre, materialType

  /// The `stock_snapshots` column (a constant of the program, written into the SQL).
  var column: String {
    switch self {
    case .client: "s.client_code"
    case .product: "s.product_code"
    case .centre: "s.centre"
    case .materialType: "s.material_type"
    }
  }
}

/// The read side of `stock_snapshots` and `stock_clients` (the stock BI reports). Imports
/// write through ``SnapshotImport``.
struct StockSnapshotStore: Sendable {
  let database: Database

  /// The tenant's clients, in no particular order.
  func clients(tenantID: UUID) async throws(RPCError) -> [(code: String, name: String)] {
    try await self.database.read { connection in
      try await connection.query("SELECT code, name FROM stock_clients WHERE tenant_id = \(tenantID)")
        .decode((String, String).self).map { (code: $0.0, name: $0.1) }
    }
  }

  /// Tonnes and rows of the snapshot of `date` by days in stock (0-30, 31-60, 61-90, over 90),
  /// optionally of one client and one centre; every bucket is present.
  func aging(date: String, client: String?, centre: String?, tenantID: UUID) async throws(RPCError)
    -> [(bucket: String, tonnes: String, rows: Int64)]
  {
    try await self.database.read { connection in
      try await connection.query(
        """
        SELECT b.bucket, coalesce(sum(s.total_tonnes), 0)::text, count(s.*)::int8
        FROM (VALUES (1, '0-30', 0, 30), (2, '31-60', 31, 60), (3, '61-90', 61, 90), (4, 'over 90', 91, 2147483647))
             AS b(position, bucket, low, high)
        LEFT JOIN stock_snapshots s ON s.tenant_id = \(tenantID) AND s.snapshot_date = \(date)::date
          AND s.days_in_stock BETWEEN b.low AND b.high
          AND (\(client)::text IS NULL OR s.client_code = \(client)::text)
          AND (\(centre)::text IS NULL OR s.centre = \(centre)::text)
        GROUP BY b.position, b.bucket ORDER BY b.position
        """
      ).decode((String, String, Int64).self).map { (bucket: $0.0, tonnes: $0.1, rows: $0.2) }
    }
  }

  /// Tonnes and rows of the snapshot of `date` by `dimension`, largest first; clients are
  /// labelled with their names.
  func totals(by dimension: StockDimension, date: String, tenantID: UUID) async throws(RPCError)
    -> [(key: String, label: String, tonnes: String, rows: Int64)]
  {
    try await self.database.read { connection in
      try await connection.query(
        """
        SELECT \(unescaped: dimension.column), coalesce(c.name, \(unescaped: dimension.column)), sum(s.total_tonnes)::text,
          count(*)::int8
        FROM stock_snapshots s LEFT JOIN stock_clients c ON \(dimension == .client)
          AND c.tenant_id = s.tenant_id AND c.code = s.client_code
        WHERE s.tenant_id = \(tenantID) AND s.snapshot_date = \(date)::date
        GROUP BY 1, 2 ORDER BY sum(s.total_tonnes) DESC, 1
        """
      ).decode((String, String, String, Int64).self).map { (key: $0.0, label: $0.1, tonnes: $0.2, rows: $0.3) }
    }
  }

  /// The date of the tenant's latest snapshot (`YYYY-MM-DD`), `nil` when there is none.
  func latestDate(tenantID: UUID) async throws(RPCError) -> String? {
    try await self.database.read { connection in
      try await connection.query(
        "SELECT max(snapshot_date)::text FROM stock_snapshots WHERE tenant_id = \(tenantID)"
      ).first?.decode(String?.self)
    }
  }
}

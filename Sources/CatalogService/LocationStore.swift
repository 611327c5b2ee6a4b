#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import CatalogV1Protos
import RPCCore

/// A row of `catalog.locations`.
struct LocationRecord: Sendable, Hashable, RowDecodable {
  var code: String
  var name: String

  static let columns = "code, name"

  init(code: String, name: String) {
    self.code = code
    self.name = name
  }

  init(row: PostgresRow) throws {
    (self.code, self.name) = try row.decode((String, String).self)
  }

  var message: Catalog_V1_Location {
    var location = Catalog_V1_Location()
    location.code = self.code
    location.name = self.name
    return location
  }
}

/// The SQL of `locations`. Stock at a location goes through ``StockLedger``.
struct LocationStore: Sendable {
  let database: Database

  /// Creates the location, or renames it when its code exists.
  func put(_ location: LocationRecord, tenantID: UUID) async throws(RPCError) {
    try await self.database.read { connection in
      try await connection.query(
        """
        INSERT INTO locations (tenant_id, code, name) VALUES (\(tenantID), \(location.code), \(location.name))
        ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name
        """)
    }
  }

  /// The tenant's locations by code.
  func list(tenantID: UUID) async throws(RPCError) -> [LocationRecord] {
    try await self.database.read { connection in
      try await connection.query(
        "SELECT \(columns: LocationRecord.self) FROM locations WHERE tenant_id = \(tenantID) ORDER BY code"
      ).decode(LocationRecord.self)
    }
  }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import CatalogV1Protos
import RPCCore
import ServiceKit

/// A row of `catalog.categories`.
struct CategoryRecord: Sendable, Hashable, RowDecodable {
  var id: UUID
  var name: String
  var parentID: UUID?

  static let columns = "id, name, parent_id"

  init(id: UUID, name: String, parentID: UUID?) {
    self.id = id
    self.name = name
    self.parentID = parentID
  }

  init(row: PostgresRow) throws {
    (self.id, self.name, self.parentID) = try row.decode((UUID, String, UUID?).self)
  }

  var message: Catalog_V1_Category {
    var category = Catalog_V1_Category()
    category.id = self.id.lowercased
    category.name = self.name
    category.parentId = self.parentID?.lowercased ?? ""
    return category
  }
}

/// The SQL of `categories`: a tree per tenant.
struct CategoryStore: Sendable {
  let database: Database

  /// One tree change at a time per tenant, so two moves cannot build a cycle together.
  static func treeLock(tenantID: UUID) -> AdvisoryLock { AdvisoryLock("categories", key: tenantID.uuidString) }

  /// Stores a new category under `parentID` (which must exist in the tenant) or at the root.
  func create(name: String, parentID: UUID?, tenantID: UUID) async throws(RPCError) -> CategoryRecord {
    let category = CategoryRecord(id: UUID(), name: name, parentID: parentID)
    try await self.database.write { connection in
      if let parentID, try await !Self.exists(parentID, tenantID: tenantID, on: connection) {
        throw RPCError(code: .notFound, message: "No parent category \(parentID.lowercased) in this tenant.")
      }
      try await connection.query(
        """
        INSERT INTO categories (id, tenant_id, name, parent_id)
        VALUES (\(category.id), \(tenantID), \(category.name), \(category.parentID))
        """)
    }
    return category
  }

  /// Moves category `id` under `parentID` (`nil`: to the root). The new parent may not be the
  /// category itself or one of its descendants.
  func move(_ id: UUID, under parentID: UUID?, tenantID: UUID) async throws(RPCError) -> CategoryRecord {
    try await self.database.write { connection in
      try await connection.lock(Self.treeLock(tenantID: tenantID))
      guard try await Self.exists(id, tenantID: tenantID, on: connection) else {
        throw RPCError(code: .notFound, message: "No category \(id.lowercased) in this tenant.")
      }
      if let parentID {
        guard try await Self.exists(parentID, tenantID: tenantID, on: connection) else {
          throw RPCError(code: .notFound, message: "No category \(parentID.lowercased) in this tenant.")
        }
        let cycle = try await connection.query(
          """
          WITH RECURSIVE below(id) AS (
            SELECT \(id)::uuid
            UNION SELECT c.id FROM categories c JOIN below b ON c.parent_id = b.id WHERE c.tenant_id = \(tenantID)
          )
          SELECT 1 FROM below WHERE id = \(parentID)
          """)
        if !cycle.isEmpty {
          throw RPCError(code: .failedPrecondition, message: "A category cannot move under itself or its descendants.")
        }
      }
      return try await connection.query(
        """
        UPDATE categories SET parent_id = \(parentID) WHERE tenant_id = \(tenantID) AND id = \(id)
        RETURNING \(columns: CategoryRecord.self)
        """
      ).first(CategoryRecord.self)!
    }
  }

  /// The tenant's categories by name.
  func list(tenantID: UUID) async throws(RPCError) -> [CategoryRecord] {
    try await self.database.read { connection in
      try await connection.query(
        "SELECT \(columns: CategoryRecord.self) FROM categories WHERE tenant_id = \(tenantID) ORDER BY name, id"
      ).decode(CategoryRecord.self)
    }
  }

  static func exists(_ id: UUID, tenantID: UUID, on connection: PostgresConnection) async throws -> Bool {
    try await !connection.query("SELECT 1 FROM categories WHERE tenant_id = \(tenantID) AND id = \(id)").isEmpty
  }
}

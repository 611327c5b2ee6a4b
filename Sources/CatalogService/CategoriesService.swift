import Auth
import Foundation
import ServiceKit
import Postgres
public import CatalogV1Protos
public import RPCCore

/// `catalog.v1.Categories`: a tree per tenant.
public struct CategoriesService: Catalog_V1_Categories.SimpleServiceProtocol {
  let context: CatalogContext

  public init(context: CatalogContext) {
    self.context = context
  }

  public func createCategory(request: Catalog_V1_CreateCategoryRequest, context: ServerContext) async throws
    -> Catalog_V1_Category
  {
    let tenantID = try context.requireCaller().tenantUUID
    let name = try requiredText(request.name, "name", maxCharacters: 200)
    let parent = request.parentId.isEmpty ? nil : try parseID(request.parentId, what: "parent_id")
    let id = UUID()
    try await self.context.database.transaction(on: self.context.pool) { connection in
      if let parent {
        let exists = try await connection.query("SELECT 1 FROM categories WHERE tenant_id = \(tenantID) AND id = \(parent)")
        if exists.isEmpty { throw RPCError(code: .notFound, message: "No parent category \(parent.lowercased) in this tenant.") }
      }
      try await connection.query(
        "INSERT INTO categories (id, tenant_id, name, parent_id) VALUES (\(id), \(tenantID), \(name), \(parent))")
    }
    var category = Catalog_V1_Category()
    category.id = id.lowercased
    category.name = name
    category.parentId = parent?.lowercased ?? ""
    return category
  }

  public func moveCategory(request: Catalog_V1_MoveCategoryRequest, context: ServerContext) async throws
    -> Catalog_V1_Category
  {
    let tenantID = try context.requireCaller().tenantUUID
    let id = try parseID(request.id, what: "id")
    let parent = request.newParentId.isEmpty ? nil : try parseID(request.newParentId, what: "new_parent_id")
    let row = try await self.context.database.transaction(on: self.context.pool) { connection in
      // One tree change at a time per tenant, so two moves cannot build a cycle together.
      try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("categories:" + tenantID.uuidString), 0))")
      guard
        try await !connection.query("SELECT 1 FROM categories WHERE tenant_id = \(tenantID) AND id = \(id)").isEmpty
      else { throw RPCError(code: .notFound, message: "No category \(id.lowercased) in this tenant.") }
      if let parent {
        guard
          try await !connection.query("SELECT 1 FROM categories WHERE tenant_id = \(tenantID) AND id = \(parent)").isEmpty
        else { throw RPCError(code: .notFound, message: "No category \(parent.lowercased) in this tenant.") }
        // The new parent may not be the category itself or one of its descendants.
        let cycle = try await connection.query(
          """
          WITH RECURSIVE below(id) AS (
            SELECT \(id)::uuid
            UNION SELECT c.id FROM categories c JOIN below b ON c.parent_id = b.id WHERE c.tenant_id = \(tenantID)
          )
          SELECT 1 FROM below WHERE id = \(parent)
          """)
        if !cycle.isEmpty {
          throw RPCError(code: .failedPrecondition, message: "A category cannot move under itself or its descendants.")
        }
      }
      return try await connection.query(
        "UPDATE categories SET parent_id = \(parent) WHERE tenant_id = \(tenantID) AND id = \(id) RETURNING id, name, parent_id"
      ).first!
    }
    return try Self.message(row)
  }

  public func listCategories(request: Catalog_V1_ListCategoriesRequest, context: ServerContext) async throws
    -> Catalog_V1_ListCategoriesResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        "SELECT id, name, parent_id FROM categories WHERE tenant_id = \(tenantID) ORDER BY name, id")
    }
    var response = Catalog_V1_ListCategoriesResponse()
    response.categories = try rows.map(Self.message)
    return response
  }

  static func message(_ row: PostgresRow) throws -> Catalog_V1_Category {
    var category = Catalog_V1_Category()
    category.id = try row.decode(column: 0, as: UUID.self).lowercased
    category.name = try row.decode(column: 1, as: String.self)
    category.parentId = try row.decode(column: 2, as: UUID?.self)?.lowercased ?? ""
    return category
  }
}

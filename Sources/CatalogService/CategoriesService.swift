import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
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
    return try await self.context.categories.create(name: name, parentID: parent, tenantID: tenantID).message
  }

  public func moveCategory(request: Catalog_V1_MoveCategoryRequest, context: ServerContext) async throws
    -> Catalog_V1_Category
  {
    let tenantID = try context.requireCaller().tenantUUID
    let id = try parseID(request.id, what: "id")
    let parent = request.newParentId.isEmpty ? nil : try parseID(request.newParentId, what: "new_parent_id")
    return try await self.context.categories.move(id, under: parent, tenantID: tenantID).message
  }

  public func listCategories(request: Catalog_V1_ListCategoriesRequest, context: ServerContext) async throws
    -> Catalog_V1_ListCategoriesResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    var response = Catalog_V1_ListCategoriesResponse()
    response.categories = try await self.context.categories.list(tenantID: tenantID).map(\.message)
    return response
  }
}

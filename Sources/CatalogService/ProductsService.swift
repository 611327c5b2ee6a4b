import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import Postgres
public import CatalogV1Protos
public import RPCCore

/// `catalog.v1.Products`.
public struct ProductsService: Catalog_V1_Products.SimpleServiceProtocol {
  let context: CatalogContext

  public init(context: CatalogContext) {
    self.context = context
  }

  public func createProduct(request: Catalog_V1_CreateProductRequest, context: ServerContext) async throws
    -> Catalog_V1_Product
  {
    let tenantID = try context.requireCaller().tenantUUID
    guard let product = request.product else { throw RPCError(code: .invalidArgument, message: "product is required.") }
    let sku = try requiredText(product.sku, "product.sku", maxCharacters: ProductRecord.maxSKUCharacters)
    _ = try requiredText(product.name, "product.name", maxCharacters: ProductRecord.maxNameCharacters, keepingSpaces: true)
    let (price, currency) = try MoneyInput.price(product.price)
    let category = product.categoryId.isEmpty ? nil : try parseID(product.categoryId, what: "product.category_id")
    let attributes = try Attributes.encode(product.attributes)
    return try await self.context.products.create(
      sku: sku, name: product.name, description: product.description, brand: product.brand, categoryID: category,
      price: price, currency: currency, taxCode: product.taxCode, attributesJSON: attributes, tenantID: tenantID
    ).message
  }

  public func getProduct(request: Catalog_V1_GetProductRequest, context: ServerContext) async throws -> Catalog_V1_Product {
    let tenantID = try context.requireCaller().tenantUUID
    let record: ProductRecord?
    switch request.key {
    case .id(let text)?:
      let id = try parseID(text, what: "id")
      record = try await self.context.products.product(id: id, tenantID: tenantID)
    case .sku(let sku)?:
      record = try await self.context.products.product(sku: sku, tenantID: tenantID)
    case nil:
      throw RPCError(code: .invalidArgument, message: "Give id or sku.")
    }
    guard let record else { throw RPCError(code: .notFound, message: "No such product in this tenant.") }
    return record.message
  }

  public func listProducts(request: Catalog_V1_ListProductsRequest, context: ServerContext) async throws
    -> Catalog_V1_ListProductsResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    guard request.pageSize >= 0 else { throw RPCError(code: .invalidArgument, message: "page_size must not be negative.") }
    let pageSize = Int64(request.pageSize == 0 ? 50 : min(Int(request.pageSize), 500))
    var after: String?
    if !request.pageToken.isEmpty {
      guard let bytes = Base64URL.decode(request.pageToken), let sku = String(validating: bytes, as: UTF8.self) else {
        throw RPCError(code: .invalidArgument, message: "page_token is not a token this service issued.")
      }
      after = sku
    }
    let category = request.categoryId.isEmpty ? nil : try parseID(request.categoryId, what: "category_id")
    let brand: String? = request.brand.isEmpty ? nil : request.brand
    let minimum = request.minPrice.isEmpty ? nil : try MoneyInput.decimal(request.minPrice, field: "min_price")
    let maximum = request.maxPrice.isEmpty ? nil : try MoneyInput.decimal(request.maxPrice, field: "max_price")
    let name: String? = request.nameContains.isEmpty ? nil : "%" + Self.escapeLike(request.nameContains.lowercased()) + "%"
    let filter = ProductFilter(
      afterSKU: after, categoryID: category, brand: brand, minimumPrice: minimum, maximumPrice: maximum,
      namePattern: name, includeArchived: request.includeArchived, limit: pageSize + 1)
    let rows = try await self.context.products.list(filter, tenantID: tenantID)
    var response = Catalog_V1_ListProductsResponse()
    let records = rows.prefix(Int(pageSize))
    response.products = records.map(\.message)
    if rows.count > Int(pageSize), let last = records.last {
      response.nextPageToken = Base64URL.encode(Array(last.sku.utf8))
    }
    return response
  }

  public func countProducts(request: Catalog_V1_CountProductsRequest, context: ServerContext) async throws
    -> Catalog_V1_CountProductsResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let counts = try await self.context.products.counts(tenantID: tenantID)
    var response = Catalog_V1_CountProductsResponse()
    response.active = counts.active
    response.archived = counts.archived
    return response
  }

  public func updateProduct(request: Catalog_V1_UpdateProductRequest, context: ServerContext) async throws
    -> Catalog_V1_Product
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    guard let changes = request.product else { throw RPCError(code: .invalidArgument, message: "product is required.") }
    let id = try parseID(changes.id, what: "product.id")
    let allowed: Set<String> = ["sku", "name", "description", "brand", "category_id", "price", "tax_code", "attributes"]
    let mask = try updateMask(request.updateMask, allowed: allowed)
    let price = mask.contains("price") ? try MoneyInput.price(changes.price) : nil
    let category: UUID? =
      mask.contains("category_id") && !changes.categoryId.isEmpty
      ? try parseID(changes.categoryId, what: "product.category_id") : nil
    let attributes = mask.contains("attributes") ? try Attributes.encode(changes.attributes) : nil
    if mask.contains("sku") {
      _ = try requiredText(changes.sku, "product.sku", maxCharacters: ProductRecord.maxSKUCharacters)
    }
    if mask.contains("name") {
      _ = try requiredText(changes.name, "product.name", maxCharacters: ProductRecord.maxNameCharacters, keepingSpaces: true)
    }
    var update = ProductUpdate()
    if mask.contains("sku") { update.sku = changes.sku.trimmingWhitespace() }
    if mask.contains("name") { update.name = changes.name }
    if mask.contains("description") { update.description = changes.description }
    if mask.contains("brand") { update.brand = changes.brand }
    if mask.contains("category_id") {
      update.setsCategory = true
      update.categoryID = category
    }
    update.price = price
    if mask.contains("tax_code") { update.taxCode = changes.taxCode }
    update.attributesJSON = attributes
    guard let record = try await self.context.products.update(update, id: id, tenantID: tenantID) else {
      throw RPCError(code: .notFound, message: "No such product in this tenant.")
    }
    return record.message
  }

  public func archiveProduct(request: Catalog_V1_ArchiveProductRequest, context: ServerContext) async throws
    -> Catalog_V1_Product
  {
    let tenantID = try context.requireCaller().tenantUUID
    let id = try parseID(request.id, what: "id")
    guard let record = try await self.context.products.archive(id: id, tenantID: tenantID) else {
      throw RPCError(code: .notFound, message: "No such product in this tenant.")
    }
    return record.message
  }

  static func escapeLike(_ text: String) -> String {
    var out = ""
    for character in text {
      if character == "%" || character == "_" || character == "\\" { out.append("\\") }
      out.append(character)
    }
    return out
  }
}

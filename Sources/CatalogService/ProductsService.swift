import Auth
import Foundation
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
    let row = try await self.context.database.translatingErrors {
      if let category { try await self.requireCategory(category, tenantID: tenantID) }
      return try await self.context.pool.query(
        """
        INSERT INTO products (id, tenant_id, sku, name, description, brand, category_id, price, currency, tax_code, attributes)
        VALUES (\(UUID()), \(tenantID), \(sku), \(product.name), \(product.description), \(product.brand), \(category),
                \(price), \(currency), \(product.taxCode), \(attributes)::jsonb)
        RETURNING \(unescaped: ProductRecord.columns)
        """
      ).first!
    }
    return try ProductRecord(row: row).message
  }

  public func getProduct(request: Catalog_V1_GetProductRequest, context: ServerContext) async throws -> Catalog_V1_Product {
    let tenantID = try context.requireCaller().tenantUUID
    let record: ProductRecord?
    switch request.key {
    case .id(let text)?:
      let id = try parseID(text, what: "id")
      record = try await self.context.database.translatingErrors {
        try await self.context.pool.execute(ProductByID(tenantID: tenantID, id: id)).first
      }
    case .sku(let sku)?:
      record = try await self.context.database.translatingErrors {
        try await self.context.pool.execute(ProductBySKU(tenantID: tenantID, sku: sku)).first
      }
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
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT \(unescaped: ProductRecord.columns) FROM products
        WHERE tenant_id = \(tenantID)
          AND (\(after)::text IS NULL OR sku > \(after)::text)
          AND (\(category)::uuid IS NULL OR category_id = \(category)::uuid)
          AND (\(brand)::text IS NULL OR brand = \(brand)::text)
          AND (\(minimum)::numeric IS NULL OR price >= \(minimum)::numeric)
          AND (\(maximum)::numeric IS NULL OR price <= \(maximum)::numeric)
          AND (\(name)::text IS NULL OR lower(name) LIKE \(name)::text ESCAPE '\\')
          AND (\(request.includeArchived) OR NOT archived)
        ORDER BY sku LIMIT \(pageSize + 1)
        """)
    }
    var response = Catalog_V1_ListProductsResponse()
    let records = try rows.prefix(Int(pageSize)).map(ProductRecord.init(row:))
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
    let row = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT count(*) FILTER (WHERE NOT archived)::int8, count(*) FILTER (WHERE archived)::int8
        FROM products WHERE tenant_id = \(tenantID)
        """
      ).first!
    }
    var response = Catalog_V1_CountProductsResponse()
    response.active = try row.decode(column: 0, as: Int64.self)
    response.archived = try row.decode(column: 1, as: Int64.self)
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
    let row = try await self.context.database.transaction(on: self.context.pool) { connection in
      if let category { try await self.requireCategory(category, tenantID: tenantID, on: connection) }
      return try await connection.query(
        """
        UPDATE products SET
          sku = CASE WHEN \(mask.contains("sku")) THEN \(changes.sku.trimmingCharacters(in: .whitespaces)) ELSE sku END,
          name = CASE WHEN \(mask.contains("name")) THEN \(changes.name) ELSE name END,
          description = CASE WHEN \(mask.contains("description")) THEN \(changes.description) ELSE description END,
          brand = CASE WHEN \(mask.contains("brand")) THEN \(changes.brand) ELSE brand END,
          category_id = CASE WHEN \(mask.contains("category_id")) THEN \(category)::uuid ELSE category_id END,
          price = coalesce(\(price?.0)::numeric, price),
          currency = coalesce(\(price?.1)::text, currency),
          tax_code = CASE WHEN \(mask.contains("tax_code")) THEN \(changes.taxCode) ELSE tax_code END,
          attributes = coalesce(\(attributes)::jsonb, attributes),
          updated_at = now()
        WHERE tenant_id = \(tenantID) AND id = \(id)
        RETURNING \(unescaped: ProductRecord.columns)
        """
      ).first
    }
    guard let row else { throw RPCError(code: .notFound, message: "No such product in this tenant.") }
    return try ProductRecord(row: row).message
  }

  public func archiveProduct(request: Catalog_V1_ArchiveProductRequest, context: ServerContext) async throws
    -> Catalog_V1_Product
  {
    let tenantID = try context.requireCaller().tenantUUID
    let id = try parseID(request.id, what: "id")
    let row = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        UPDATE products SET archived = true, updated_at = CASE WHEN archived THEN updated_at ELSE now() END
        WHERE tenant_id = \(tenantID) AND id = \(id) RETURNING \(unescaped: ProductRecord.columns)
        """
      ).first
    }
    guard let row else { throw RPCError(code: .notFound, message: "No such product in this tenant.") }
    return try ProductRecord(row: row).message
  }

  private func requireCategory(_ id: UUID, tenantID: UUID, on connection: PostgresConnection? = nil) async throws {
    let query: PostgresQuery = "SELECT 1 FROM categories WHERE tenant_id = \(tenantID) AND id = \(id)"
    let rows: PostgresRows
    if let connection {
      rows = try await connection.query(query)
    } else {
      rows = try await self.context.pool.query(query)
    }
    if rows.isEmpty { throw RPCError(code: .notFound, message: "No category \(id.lowercased) in this tenant.") }
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

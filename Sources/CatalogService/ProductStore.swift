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

/// A row of `catalog.products`.
struct ProductRecord: Sendable, Hashable, RowDecodable {
  /// The longest SKU and name `products` accepts (its CHECK constraints).
  static let maxSKUCharacters = 64
  static let maxNameCharacters = 300

  var id: UUID
  var sku: String
  var name: String
  var description: String
  var brand: String
  var categoryID: UUID?
  var price: PostgresDecimal
  var currency: String
  var taxCode: String
  var attributesJSON: String
  var archived: Bool
  var createdAt: Date
  var updatedAt: Date

  static let columns = """
    id, sku, name, description, brand, category_id, price, currency, tax_code, attributes::text, archived,
    created_at, updated_at
    """

  init(row: PostgresRow) throws {
    (
      self.id, self.sku, self.name, self.description, self.brand, self.categoryID, self.price, self.currency,
      self.taxCode, self.attributesJSON, self.archived, self.createdAt, self.updatedAt
    ) = try row.decode(
      (UUID, String, String, String, String, UUID?, PostgresDecimal, String, String, String, Bool, Date, Date).self)
  }

  var message: Catalog_V1_Product {
    var product = Catalog_V1_Product()
    product.id = self.id.lowercased
    product.sku = self.sku
    product.name = self.name
    product.description = self.description
    product.brand = self.brand
    product.categoryId = self.categoryID?.lowercased ?? ""
    var price = Catalog_V1_Money()
    price.amount = self.price.description
    price.currency = self.currency
    product.price = price
    product.taxCode = self.taxCode
    product.attributes = Attributes.decode(self.attributesJSON)
    product.archived = self.archived
    product.createdAtMs = self.createdAt.unixMilliseconds
    product.updatedAtMs = self.updatedAt.unixMilliseconds
    return product
  }
}

/// `GetProduct` by id: a statement prepared once per connection (the hot read path).
struct ProductByID: PostgresPreparedStatement {
  static let sql = "SELECT \(ProductRecord.columns) FROM products WHERE tenant_id = $1 AND id = $2"
  typealias Row = ProductRecord
  var tenantID: UUID
  var id: UUID

  func makeBindings() -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(self.tenantID)
    bindings.append(self.id)
    return bindings
  }

  func decodeRow(_ row: PostgresRow) throws -> ProductRecord { try ProductRecord(row: row) }
}

/// `GetProduct` by SKU, prepared like ``ProductByID``.
struct ProductBySKU: PostgresPreparedStatement {
  static let sql = "SELECT \(ProductRecord.columns) FROM products WHERE tenant_id = $1 AND sku = $2"
  typealias Row = ProductRecord
  var tenantID: UUID
  var sku: String

  func makeBindings() -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(self.tenantID)
    bindings.append(self.sku)
    return bindings
  }

  func decodeRow(_ row: PostgresRow) throws -> ProductRecord { try ProductRecord(row: row) }
}


/// What ``ProductStore/update(_:id:tenantID:)`` changes; `nil` leaves a column as it is.
struct ProductUpdate: Sendable {
  var sku: String?
  var name: String?
  var description: String?
  var brand: String?
  /// Whether `category_id` is set (to ``categoryID``, which may clear it).
  var setsCategory = false
  var categoryID: UUID?
  var price: (PostgresDecimal, String)?
  var taxCode: String?
  var attributesJSON: String?
}

/// What ``ProductStore/list(_:tenantID:)`` selects; `nil` does not filter.
struct ProductFilter: Sendable {
  /// Products whose SKU sorts after this one (the page token).
  var afterSKU: String?
  var categoryID: UUID?
  var brand: String?
  var minimumPrice: PostgresDecimal?
  var maximumPrice: PostgresDecimal?
  /// A `LIKE` pattern, already escaped, matched against the lower-cased name.
  var namePattern: String?
  var includeArchived = false
  var limit: Int64
}

/// The SQL of `products`.
struct ProductStore: Sendable {
  let database: Database

  /// Stores a new product; its category, when given, must exist in the tenant.
  func create(
    sku: String, name: String, description: String, brand: String, categoryID: UUID?, price: PostgresDecimal,
    currency: String, taxCode: String, attributesJSON: String, tenantID: UUID
  ) async throws(RPCError) -> ProductRecord {
    try await self.database.read { connection in
      if let categoryID { try await Self.requireCategory(categoryID, tenantID: tenantID, on: connection) }
      return try await connection.query(
        """
        INSERT INTO products (id, tenant_id, sku, name, description, brand, category_id, price, currency, tax_code, attributes)
        VALUES (\(UUID()), \(tenantID), \(sku), \(name), \(description), \(brand), \(categoryID),
                \(price), \(currency), \(taxCode), \(attributesJSON)::jsonb)
        RETURNING \(columns: ProductRecord.self)
        """
      ).first(ProductRecord.self)!
    }
  }

  /// One product by id (the prepared ``ProductByID``: the hot read path).
  func product(id: UUID, tenantID: UUID) async throws(RPCError) -> ProductRecord? {
    try await self.database.translating {
      try await self.database.pool.execute(ProductByID(tenantID: tenantID, id: id)).first
    }
  }

  /// One product by SKU (the prepared ``ProductBySKU``).
  func product(sku: String, tenantID: UUID) async throws(RPCError) -> ProductRecord? {
    try await self.database.translating {
      try await self.database.pool.execute(ProductBySKU(tenantID: tenantID, sku: sku)).first
    }
  }

  /// Up to `filter.limit` products by SKU.
  func list(_ filter: ProductFilter, tenantID: UUID) async throws(RPCError) -> [ProductRecord] {
    try await self.database.read { connection in
      try await connection.query(
        """
        SELECT \(columns: ProductRecord.self) FROM products
        WHERE tenant_id = \(tenantID)
          AND (\(filter.afterSKU)::text IS NULL OR sku > \(filter.afterSKU)::text)
          AND (\(filter.categoryID)::uuid IS NULL OR category_id = \(filter.categoryID)::uuid)
          AND (\(filter.brand)::text IS NULL OR brand = \(filter.brand)::text)
          AND (\(filter.minimumPrice)::numeric IS NULL OR price >= \(filter.minimumPrice)::numeric)
          AND (\(filter.maximumPrice)::numeric IS NULL OR price <= \(filter.maximumPrice)::numeric)
          AND (\(filter.namePattern)::text IS NULL OR lower(name) LIKE \(filter.namePattern)::text ESCAPE '\\')
          AND (\(filter.includeArchived) OR NOT archived)
        ORDER BY sku LIMIT \(filter.limit)
        """
      ).decode(ProductRecord.self)
    }
  }

  /// How many of the tenant's products are active and how many archived.
  func counts(tenantID: UUID) async throws(RPCError) -> (active: Int64, archived: Int64) {
    try await self.database.read { connection in
      let (active, archived) = try await connection.query(
        """
        SELECT count(*) FILTER (WHERE NOT archived)::int8, count(*) FILTER (WHERE archived)::int8
        FROM products WHERE tenant_id = \(tenantID)
        """
      ).first!.decode((Int64, Int64).self)
      return (active, archived)
    }
  }

  /// Applies `update` to a product; `nil` when the tenant has no such product.
  func update(_ update: ProductUpdate, id: UUID, tenantID: UUID) async throws(RPCError) -> ProductRecord? {
    try await self.database.write { connection in
      if update.setsCategory, let categoryID = update.categoryID {
        try await Self.requireCategory(categoryID, tenantID: tenantID, on: connection)
      }
      return try await connection.query(
        """
        UPDATE products SET
          sku = coalesce(\(update.sku)::text, sku),
          name = coalesce(\(update.name)::text, name),
          description = coalesce(\(update.description)::text, description),
          brand = coalesce(\(update.brand)::text, brand),
          category_id = CASE WHEN \(update.setsCategory) THEN \(update.categoryID)::uuid ELSE category_id END,
          price = coalesce(\(update.price?.0)::numeric, price),
          currency = coalesce(\(update.price?.1)::text, currency),
          tax_code = coalesce(\(update.taxCode)::text, tax_code),
          attributes = coalesce(\(update.attributesJSON)::jsonb, attributes),
          updated_at = now()
        WHERE tenant_id = \(tenantID) AND id = \(id)
        RETURNING \(columns: ProductRecord.self)
        """
      ).first(ProductRecord.self)
    }
  }

  /// Archives a product (a second time changes nothing); `nil` when there is no such product.
  func archive(id: UUID, tenantID: UUID) async throws(RPCError) -> ProductRecord? {
    try await self.database.read { connection in
      try await connection.query(
        """
        UPDATE products SET archived = true, updated_at = CASE WHEN archived THEN updated_at ELSE now() END
        WHERE tenant_id = \(tenantID) AND id = \(id) RETURNING \(columns: ProductRecord.self)
        """
      ).first(ProductRecord.self)
    }
  }

  /// Whether a product exists in the tenant.
  static func exists(_ id: UUID, tenantID: UUID, on connection: PostgresConnection) async throws -> Bool {
    try await !connection.query("SELECT 1 FROM products WHERE tenant_id = \(tenantID) AND id = \(id)").isEmpty
  }

  static func requireCategory(_ id: UUID, tenantID: UUID, on connection: PostgresConnection) async throws {
    guard try await CategoryStore.exists(id, tenantID: tenantID, on: connection) else {
      throw RPCError(code: .notFound, message: "No category \(id.lowercased) in this tenant.")
    }
  }
}

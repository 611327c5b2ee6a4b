import Foundation
import Postgres
import CatalogV1Protos
import RPCCore
import ServiceKit

/// A row of `catalog.products`.
struct ProductRecord: Sendable, Hashable {
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
    self.id = try row.decode(column: 0, as: UUID.self)
    self.sku = try row.decode(column: 1, as: String.self)
    self.name = try row.decode(column: 2, as: String.self)
    self.description = try row.decode(column: 3, as: String.self)
    self.brand = try row.decode(column: 4, as: String.self)
    self.categoryID = try row.decode(column: 5, as: UUID?.self)
    self.price = try row.decode(column: 6, as: PostgresDecimal.self)
    self.currency = try row.decode(column: 7, as: String.self)
    self.taxCode = try row.decode(column: 8, as: String.self)
    self.attributesJSON = try row.decode(column: 9, as: String.self)
    self.archived = try row.decode(column: 10, as: Bool.self)
    self.createdAt = try row.decode(column: 11, as: Date.self)
    self.updatedAt = try row.decode(column: 12, as: Date.self)
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

/// Product attributes: a flat string map, stored as a JSON object.
enum Attributes {
  static func encode(_ attributes: [String: String]) throws(RPCError) -> String {
    guard attributes.count <= 100 else { throw RPCError(code: .invalidArgument, message: "At most 100 attributes.") }
    return JSONText.object(attributes.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
  }

  /// The map back from the database's JSON text (an object of strings, as ``encode`` wrote it).
  static func decode(_ json: String) -> [String: String] {
    if json == "{}" { return [:] }  // most products: no Foundation JSON parser needed
    guard let data = json.data(using: .utf8),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return [:] }
    var out: [String: String] = [:]
    for (key, value) in object { out[key] = value as? String ?? "\(value)" }
    return out
  }
}

/// Money from the wire: a non-negative decimal string with at most 4 fraction digits and an
/// ISO 4217 code.
enum MoneyInput {
  static func price(_ money: Catalog_V1_Money?) throws(RPCError) -> (PostgresDecimal, String) {
    guard let money else { throw RPCError(code: .invalidArgument, message: "price is required.") }
    let amount = try self.decimal(money.amount, field: "price.amount")
    let currency = money.currency.uppercased()
    guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isLetter }) else {
      throw RPCError(code: .invalidArgument, message: "price.currency must be a three-letter ISO 4217 code such as EUR.")
    }
    return (amount, currency)
  }

  static func decimal(_ text: String, field: String) throws(RPCError) -> PostgresDecimal {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let digitsOnly = trimmed.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
    guard digitsOnly, trimmed.filter({ $0 == "." }).count <= 1, let value = PostgresDecimal(trimmed),
      !trimmed.hasPrefix("."), !trimmed.hasSuffix(".")
    else {
      throw RPCError(code: .invalidArgument, message: "\(field) must be a non-negative decimal such as 12.50, got \"\(text.prefix(40))\".")
    }
    if let dot = trimmed.firstIndex(of: "."), trimmed.distance(from: dot, to: trimmed.endIndex) - 1 > 4 {
      throw RPCError(code: .invalidArgument, message: "\(field) has more than 4 fraction digits.")
    }
    guard (trimmed.split(separator: ".").first?.count ?? 0) <= 16 else {
      throw RPCError(code: .invalidArgument, message: "\(field) is too large.")
    }
    return value
  }
}

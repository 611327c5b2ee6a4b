#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import CatalogV1Protos
import RPCCore
import ServiceKit

/// Product attributes: a flat string map, stored as a JSON object.
enum Attributes {
  static func encode(_ attributes: [String: String]) throws(RPCError) -> String {
    guard attributes.count <= 100 else { throw RPCError(code: .invalidArgument, message: "At most 100 attributes.") }
    return JSONText.object(attributes.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
  }

  /// The map back from the database's JSON text (an object of strings, as ``encode`` wrote it).
  static func decode(_ json: String) -> [String: String] { JSONText.stringMap(json) }
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
    let trimmed = text.trimmingWhitespace()
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

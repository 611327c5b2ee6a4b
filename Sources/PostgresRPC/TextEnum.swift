public import Postgres

/// A domain state stored as a `text` column with a CHECK listing its values, such as a
/// reservation's status: bound and decoded by its raw value, so the SQL stays the same and
/// Swift code never compares strings.
///
/// A value the enum does not know fails decoding (`INTERNAL`), as any other bad cell does.
public protocol PostgresTextEnum: PostgresEncodable, PostgresDecodable, RawRepresentable, Sendable
where RawValue == String {}

extension PostgresTextEnum {
  public static var postgresType: PostgresDataType { .text }

  public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self.rawValue.utf8) }

  public func encodeText(into text: inout String) { text += self.rawValue }

  public init(from cell: PostgresCell) throws {
    let text = try String(from: cell)
    guard let value = Self(rawValue: text) else {
      throw PostgresError(code: .decoding, message: "\(Self.self) has no value \"\(text.prefix(32))\"")
    }
    self = value
  }
}

public import Postgres

/// A value read from a row whose columns a store selects with ``columns``.
///
/// The conformance decodes the row as one tuple with the parameter-pack
/// `PostgresRow.decode(_:)`, so the column count is checked against the tuple and no column is
/// addressed by index:
///
/// ```swift
/// struct Location: RowDecodable {
///   static let columns = "code, name"
///   var code: String
///   var name: String
///   init(row: PostgresRow) throws {
///     (self.code, self.name) = try row.decode((String, String).self)
///   }
/// }
/// let locations = try await connection.query("SELECT \(columns: Location.self) FROM locations").decode(Location.self)
/// ```
public protocol RowDecodable: Sendable {
  /// The select list, in the order ``init(row:)`` decodes it.
  static var columns: String { get }

  /// Decodes one row selected with ``columns``.
  init(row: PostgresRow) throws
}

extension PostgresRows {
  /// Every row decoded as `type`.
  public func decode<Record: RowDecodable>(_ type: Record.Type) throws -> [Record] {
    try self.map { try Record(row: $0) }
  }

  /// The first row decoded as `type`, `nil` when there is none.
  public func first<Record: RowDecodable>(_ type: Record.Type) throws -> Record? {
    try self.first.map { try Record(row: $0) }
  }
}

extension PostgresRow {
  /// Decodes the columns from `start` on into a tuple, one column per type, leaving the
  /// columns after them unread: for a record whose query selects a value after the record's
  /// columns (`SELECT \(columns: UserRecord.self), password_hash ...`).
  ///
  /// - Throws: `PostgresError` (decoding) when the row has fewer columns than that.
  public func decode<each Column: PostgresDecodable>(
    _ types: (repeat each Column).Type, from start: Int, file: String = #fileID, line: Int = #line
  ) throws -> (repeat each Column) {
    var index = start
    func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
      defer { index += 1 }
      return try self.decode(column: index, as: T.self, file: file, line: line)
    }
    return (repeat try next((each Column).self))
  }
}

extension PostgresQuery.StringInterpolation {
  /// Inserts `type`'s select list as SQL text (it is a constant of the program, never input).
  public mutating func appendInterpolation<Record: RowDecodable>(columns type: Record.Type) {
    self.appendInterpolation(unescaped: Record.columns)
  }
}

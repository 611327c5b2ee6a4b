/// A column of a result.
public struct PostgresColumn: Sendable, Hashable {
  /// The column's name (the alias when the query gives one).
  public var name: String
  /// The column's type.
  public var dataType: PostgresDataType
}

/// Immutable copy of a libpq result: all cell bytes back to back plus where each cell is.
final class PostgresResultStorage: Sendable {
  /// Where one cell's bytes are.
  struct Cell: Sendable {
    /// Start in `bytes`.
    var offset: Int
    /// Length, -1 for NULL.
    var length: Int32
  }

  let columns: [PostgresColumn]
  let rowCount: Int
  let bytes: [UInt8]
  /// The cells, row-major.
  let cells: [Cell]

  init(columns: [PostgresColumn], rowCount: Int, bytes: [UInt8], cells: [Cell]) {
    self.columns = columns
    self.rowCount = rowCount
    self.bytes = bytes
    self.cells = cells
  }

  static let empty = PostgresResultStorage(columns: [], rowCount: 0, bytes: [], cells: [])
}

/// The rows a statement returned, fully received, plus its command tag.
///
/// A random-access collection of ``PostgresRow``; decode them one by one or all at once:
///
/// ```swift
/// let users = try await connection.query("SELECT id, name FROM users").decode((Int64, String).self)
/// ```
public struct PostgresRows: Sendable, RandomAccessCollection {
  let storage: PostgresResultStorage
  /// The command tag, for example `SELECT 3`, `INSERT 0 1`, `UPDATE 2`.
  public let commandTag: String
  /// Rows affected or returned (from the command tag), when the command reports it.
  public let affectedRows: Int?

  init(storage: PostgresResultStorage, commandTag: String, affectedRows: Int?) {
    self.storage = storage
    self.commandTag = commandTag
    self.affectedRows = affectedRows
  }

  /// The result's columns.
  public var columns: [PostgresColumn] { self.storage.columns }

  public var startIndex: Int { 0 }
  public var endIndex: Int { self.storage.rowCount }

  public subscript(position: Int) -> PostgresRow {
    precondition(position >= 0 && position < self.storage.rowCount, "row index out of range")
    return PostgresRow(storage: self.storage, rowIndex: position)
  }

  /// Decodes every one-column row, for example `rows.decode(Int64.self)`.
  public func decode<T: PostgresDecodable>(
    _ type: T.Type, file: String = #fileID, line: Int = #line
  ) throws -> [T] {
    try self.map { try $0.decode(type, file: file, line: line) }
  }

  /// Decodes every row into a tuple, for example `rows.decode((Int64, String?).self)`.
  public func decode<each Column: PostgresDecodable>(
    _ types: (repeat each Column).Type, file: String = #fileID, line: Int = #line
  ) throws -> [(repeat each Column)] {
    try self.map { try $0.decode(types, file: file, line: line) }
  }
}

/// One row of a result.
public struct PostgresRow: Sendable {
  let storage: PostgresResultStorage
  let rowIndex: Int

  /// The result's columns.
  public var columns: [PostgresColumn] { self.storage.columns }

  /// The number of columns.
  public var count: Int { self.storage.columns.count }

  /// The raw cell at `column` (zero-based).
  public subscript(column column: Int) -> PostgresCell {
    precondition(column >= 0 && column < self.storage.columns.count, "column index out of range")
    let cellIndex = self.rowIndex * self.storage.columns.count + column
    let cell = self.storage.cells[cellIndex]
    let length = Int(cell.length)
    let offset = cell.offset
    let descriptor = self.storage.columns[column]
    return PostgresCell(
      bytes: length < 0 ? nil : self.storage.bytes[offset..<offset + length],
      dataType: descriptor.dataType, columnName: descriptor.name, columnIndex: column)
  }

  /// Decodes the value in `column` (zero-based) as `T`.
  ///
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code-swift.struct/decoding`` naming the
  ///   column (index and name), `T` and the column's PostgreSQL type.
  public func decode<T: PostgresDecodable>(
    column: Int, as type: T.Type = T.self, file: String = #fileID, line: Int = #line
  ) throws -> T {
    guard column >= 0 && column < self.count else {
      throw PostgresError(
        code: .decoding, message: "column index \(column) out of range (\(self.count) columns)",
        file: file, line: line)
    }
    let cell = self[column: column]
    do {
      return try T(from: cell)
    } catch {
      throw Self.decodingError(error, cell: cell, swiftType: T.self, file: file, line: line)
    }
  }

  /// Decodes the value in the column named `name` (the first one, if several share it).
  public func decode<T: PostgresDecodable>(
    column name: String, as type: T.Type = T.self, file: String = #fileID, line: Int = #line
  ) throws -> T {
    guard let index = self.storage.columns.firstIndex(where: { $0.name == name }) else {
      throw PostgresError(code: .decoding, message: "no column named \(name)", file: file, line: line)
    }
    return try self.decode(column: index, as: T.self, file: file, line: line)
  }

  /// `row[0, as: Int64.self]`: decodes the value in `column`.
  public subscript<T: PostgresDecodable>(column: Int, as type: T.Type) -> T {
    get throws { try self.decode(column: column, as: T.self) }
  }

  /// `row["id", as: Int64.self]`: decodes the value in the column named `name`.
  public subscript<T: PostgresDecodable>(name: String, as type: T.Type) -> T {
    get throws { try self.decode(column: name, as: T.self) }
  }

  /// Decodes a one-column row: `try row.decode(Int64.self)`.
  public func decode<T: PostgresDecodable>(
    _ type: T.Type, file: String = #fileID, line: Int = #line
  ) throws -> T {
    guard self.count == 1 else {
      throw PostgresError(
        code: .decoding, message: "row has \(self.count) columns but 1 type was requested",
        file: file, line: line)
    }
    return try self.decode(column: 0, as: T.self, file: file, line: line)
  }

  /// Decodes the whole row into a tuple whose arity equals the column count:
  /// `try row.decode((Int64, String, Int32?).self)`.
  public func decode<each Column: PostgresDecodable>(
    _ types: (repeat each Column).Type, file: String = #fileID, line: Int = #line
  ) throws -> (repeat each Column) {
    var expected = 0
    for _ in repeat (each Column).self { expected += 1 }
    guard expected == self.count else {
      throw PostgresError(
        code: .decoding,
        message: "row has \(self.count) columns but \(expected) types were requested",
        file: file, line: line)
    }
    var index = 0
    func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
      defer { index += 1 }
      return try self.decode(column: index, as: T.self, file: file, line: line)
    }
    return (repeat try next((each Column).self))
  }

  static func decodingError(
    _ error: any Error, cell: PostgresCell, swiftType: Any.Type, file: String, line: Int
  ) -> PostgresError {
    var reason = "\(error)"
    var underlying: (any Error)? = error
    if let postgresError = error as? PostgresError {
      reason = postgresError.message ?? postgresError.decodingContext?.reason ?? "\(postgresError.code)"
      underlying = nil
    }
    return PostgresError(
      code: .decoding, message: nil,
      decodingContext: PostgresError.DecodingContext(
        columnIndex: cell.columnIndex, columnName: cell.columnName,
        swiftType: String(reflecting: swiftType), dataType: cell.dataType, reason: reason),
      underlying: underlying, file: file, line: line)
  }
}

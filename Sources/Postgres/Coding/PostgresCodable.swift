/// A value that can be sent to PostgreSQL as a bound parameter or a COPY field.
///
/// Parameters travel in PostgreSQL's *binary* format, tagged with ``postgresType`` so the
/// server knows their type; COPY rows travel in the *text* format (the server converts them with
/// each column's input function).
///
/// Conforming types: `Int16`, `Int32`, `Int64`, `Int`, `Bool`, `Double`, `Float`, `String`,
/// ``PostgresDecimal``, `Date` (timestamptz), `UUID`, ``PostgresJSON`` (jsonb), `[UInt8]`
/// (bytea), arrays of those, and `Optional` of any of them (`nil` is SQL NULL).
public protocol PostgresEncodable: Sendable {
  /// The PostgreSQL type the encoded bytes represent.
  static var postgresType: PostgresDataType { get }

  /// Whether this value is SQL NULL (only `Optional.none` is). Defaults to `false`.
  var isPostgresNull: Bool { get }

  /// Appends the binary representation. Never called when ``isPostgresNull`` is true.
  func encode(into buffer: inout [UInt8])

  /// Appends the text representation (the type's input syntax, without COPY escaping).
  /// Never called when ``isPostgresNull`` is true.
  func encodeText(into text: inout String)
}

extension PostgresEncodable {
  public var isPostgresNull: Bool { false }
}

/// A value that can be decoded from a result column.
///
/// Results are requested in binary format. An implementation checks ``PostgresCell/dataType``
/// and throws (for example with ``PostgresCell/typeMismatch(expected:)``) when it cannot decode
/// that type; the row adds the column index, name and the Swift type to the error.
public protocol PostgresDecodable {
  /// Decodes the cell. Non-optional types throw on NULL; `Optional` decodes NULL as `nil`.
  init(from cell: PostgresCell) throws
}

/// A type that is both encodable and decodable.
public typealias PostgresCodable = PostgresDecodable & PostgresEncodable

/// One value of a result row, in binary format, with its column's metadata.
public struct PostgresCell: Sendable {
  /// The raw binary value, or `nil` for SQL NULL.
  public var bytes: ArraySlice<UInt8>?
  /// The value's PostgreSQL type.
  public var dataType: PostgresDataType
  /// The column's name ("" for array elements).
  public var columnName: String
  /// The column's index (for array elements, the column holding the array).
  public var columnIndex: Int

  public init(bytes: ArraySlice<UInt8>?, dataType: PostgresDataType, columnName: String, columnIndex: Int) {
    self.bytes = bytes
    self.dataType = dataType
    self.columnName = columnName
    self.columnIndex = columnIndex
  }

  /// Whether the value is SQL NULL.
  public var isNull: Bool { self.bytes == nil }

  /// The bytes of a non-NULL value; throws an "unexpected NULL" decoding error for NULL.
  public func requireBytes() throws -> ArraySlice<UInt8> {
    guard let bytes = self.bytes else {
      throw PostgresError.decoding("unexpected NULL (decode an Optional to accept NULL)")
    }
    return bytes
  }

  /// A decoding error saying that ``dataType`` cannot be decoded as the requested type.
  public func typeMismatch(expected: String) -> PostgresError {
    PostgresError.typeMismatch(self.dataType, expected: expected)
  }

  /// Throws ``typeMismatch(expected:)`` unless ``dataType`` is one of `types`.
  public func requireType(_ types: PostgresDataType...) throws {
    guard types.contains(self.dataType) else {
      throw self.typeMismatch(expected: types.map { $0.description }.joined(separator: " or "))
    }
  }
}

// MARK: - Optional

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
  public static var postgresType: PostgresDataType { Wrapped.postgresType }

  public var isPostgresNull: Bool {
    switch self {
    case .none: true
    case .some(let wrapped): wrapped.isPostgresNull
    }
  }

  public func encode(into buffer: inout [UInt8]) {
    if case .some(let wrapped) = self {
      wrapped.encode(into: &buffer)
    }
  }

  public func encodeText(into text: inout String) {
    if case .some(let wrapped) = self {
      wrapped.encodeText(into: &text)
    }
  }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
  public init(from cell: PostgresCell) throws {
    if cell.bytes == nil {
      self = .none
    } else {
      self = .some(try Wrapped(from: cell))
    }
  }
}

/// A type whose arrays map to a PostgreSQL array type (or, for `UInt8`, to `bytea`).
///
/// `[Int64]` ↔ `int8[]`, `[String]` ↔ `text[]`, `[UUID]` ↔ `uuid[]`, ... and `[UInt8]` ↔
/// `bytea`. Optional elements (`[Int64?]`) are NULL entries. Only one-dimensional arrays are
/// supported; decoding a multi-dimensional array throws.
public protocol PostgresArrayElement: Sendable {
  /// The PostgreSQL type of `[Self]`, for example `int8[]` for `Int64`.
  static var postgresArrayType: PostgresDataType { get }
  /// Appends the binary representation of `elements`.
  static func encodePostgresArray(_ elements: [Self], into buffer: inout [UInt8])
  /// Appends the text representation of `elements`.
  static func encodePostgresArrayText(_ elements: [Self], into text: inout String)
  /// Decodes `[Self]` from a cell.
  static func decodePostgresArray(from cell: PostgresCell) throws -> [Self]
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
  public static var postgresType: PostgresDataType { Element.postgresArrayType }
  public func encode(into buffer: inout [UInt8]) { Element.encodePostgresArray(self, into: &buffer) }
  public func encodeText(into text: inout String) { Element.encodePostgresArrayText(self, into: &text) }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
  public init(from cell: PostgresCell) throws {
    self = try Element.decodePostgresArray(from: cell)
  }
}

// Generic one-dimensional array format: int32 ndim, int32 has-nulls flag, uint32 element OID,
// per dimension int32 size and int32 lower bound, then per element int32 length (-1 = NULL) and
// the element's binary value.
extension PostgresArrayElement where Self: PostgresEncodable & PostgresDecodable {
  public static func encodePostgresArray(_ elements: [Self], into buffer: inout [UInt8]) {
    let hasNulls = elements.contains { $0.isPostgresNull }
    buffer.appendBigEndian(Int32(elements.isEmpty ? 0 : 1))
    buffer.appendBigEndian(Int32(hasNulls ? 1 : 0))
    buffer.appendBigEndian(Self.postgresType.rawValue)
    if elements.isEmpty { return }
    buffer.appendBigEndian(Int32(elements.count))
    buffer.appendBigEndian(Int32(1))
    for element in elements {
      if element.isPostgresNull {
        buffer.appendBigEndian(Int32(-1))
        continue
      }
      let lengthOffset = buffer.count
      buffer.appendBigEndian(Int32(0))
      element.encode(into: &buffer)
      let length = Int32(buffer.count - lengthOffset - 4)
      withUnsafeBytes(of: length.bigEndian) { raw in
        for index in 0..<4 { buffer[lengthOffset + index] = raw[index] }
      }
    }
  }

  /// `{"a","b",NULL}`: every element quoted, `"` and `\` backslash-escaped.
  public static func encodePostgresArrayText(_ elements: [Self], into text: inout String) {
    text += "{"
    for (index, element) in elements.enumerated() {
      if index > 0 { text += "," }
      if element.isPostgresNull {
        text += "NULL"
        continue
      }
      var value = ""
      element.encodeText(into: &value)
      text += "\""
      for scalar in value.unicodeScalars {
        if scalar == "\"" || scalar == "\\" { text += "\\" }
        text.unicodeScalars.append(scalar)
      }
      text += "\""
    }
    text += "}"
  }

  public static func decodePostgresArray(from cell: PostgresCell) throws -> [Self] {
    let bytes = try cell.requireBytes()
    guard let elementType = cell.dataType.elementType else {
      throw cell.typeMismatch(expected: Self.postgresArrayType.description)
    }
    var reader = ByteReader(bytes)
    let dimensions = try reader.readInteger(as: Int32.self)
    _ = try reader.readInteger(as: Int32.self)  // has-nulls flag
    let declaredElementType = try reader.readInteger(as: UInt32.self)
    guard declaredElementType == elementType.rawValue else {
      throw PostgresError.decoding("array element type does not match the column type")
    }
    if dimensions == 0 {
      try reader.requireEnd()
      return []
    }
    guard dimensions == 1 else {
      throw PostgresError(code: .decoding, message: "multi-dimensional arrays are not supported")
    }
    let count = Int(try reader.readInteger(as: Int32.self))
    _ = try reader.readInteger(as: Int32.self)  // lower bound
    guard count >= 0, count <= reader.remaining / 4 else {
      throw PostgresError.decoding("malformed array length")
    }
    var result: [Self] = []
    result.reserveCapacity(count)
    for _ in 0..<count {
      let length = Int(try reader.readInteger(as: Int32.self))
      let elementBytes = length < 0 ? nil : try reader.readBytes(length)
      let element = PostgresCell(
        bytes: elementBytes, dataType: elementType, columnName: cell.columnName,
        columnIndex: cell.columnIndex)
      result.append(try Self(from: element))
    }
    try reader.requireEnd()
    return result
  }
}

extension Int16: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .int2Array } }
extension Int32: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .int4Array } }
extension Int64: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .int8Array } }
extension Int: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .int8Array } }
extension Bool: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .boolArray } }
extension Double: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .float8Array } }
extension Float: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .float4Array } }
extension String: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .textArray } }
extension PostgresDecimal: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .numericArray } }
extension PostgresJSON: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .jsonbArray } }

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement & PostgresEncodable & PostgresDecodable {
  public static var postgresArrayType: PostgresDataType { Wrapped.postgresArrayType }
}

/// `[UInt8]` is `bytea`: the raw bytes in binary format, `\x`-hex in text format.
extension UInt8: PostgresArrayElement {
  public static var postgresArrayType: PostgresDataType { .bytea }

  public static func encodePostgresArray(_ elements: [UInt8], into buffer: inout [UInt8]) {
    buffer.append(contentsOf: elements)
  }

  public static func encodePostgresArrayText(_ elements: [UInt8], into text: inout String) {
    text += "\\x"
    text += hexString(elements)
  }

  public static func decodePostgresArray(from cell: PostgresCell) throws -> [UInt8] {
    let bytes = try cell.requireBytes()
    guard cell.dataType == .bytea else { throw cell.typeMismatch(expected: "bytea") }
    return Array(bytes)
  }
}

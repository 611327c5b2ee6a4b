// Integers travel as big-endian two's complement (int2/int4/int8). Decoding accepts any
// narrower-or-equal integer column, so `Int64` reads int2, int4 and int8 columns.

extension Int16: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .int2 }
  public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
  public func encodeText(into text: inout String) { text += String(self) }
  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    switch cell.dataType {
    case .int2: self = try decodeExactInteger(bytes, as: Int16.self)
    default: throw cell.typeMismatch(expected: "int2")
    }
  }
}

extension Int32: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .int4 }
  public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
  public func encodeText(into text: inout String) { text += String(self) }
  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    switch cell.dataType {
    case .int2: self = Int32(try decodeExactInteger(bytes, as: Int16.self))
    case .int4: self = try decodeExactInteger(bytes, as: Int32.self)
    default: throw cell.typeMismatch(expected: "int2 or int4")
    }
  }
}

extension Int64: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .int8 }
  public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
  public func encodeText(into text: inout String) { text += String(self) }
  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    switch cell.dataType {
    case .int2: self = Int64(try decodeExactInteger(bytes, as: Int16.self))
    case .int4: self = Int64(try decodeExactInteger(bytes, as: Int32.self))
    case .int8: self = try decodeExactInteger(bytes, as: Int64.self)
    default: throw cell.typeMismatch(expected: "int2, int4 or int8")
    }
  }
}

/// `Int` is bound as int8 (64-bit platforms only).
extension Int: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .int8 }
  public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(Int64(self)) }
  public func encodeText(into text: inout String) { text += String(self) }
  public init(from cell: PostgresCell) throws {
    let value = try Int64(from: cell)
    guard let narrowed = Int(exactly: value) else {
      throw PostgresError.decoding("value out of range for Int")
    }
    self = narrowed
  }
}

extension Bool: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .bool }
  public func encode(into buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
  public func encodeText(into text: inout String) { text += self ? "t" : "f" }
  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    guard cell.dataType == .bool else { throw cell.typeMismatch(expected: "bool") }
    guard bytes.count == 1, let byte = bytes.first, byte <= 1 else {
      throw PostgresError.decoding("malformed bool")
    }
    self = byte == 1
  }
}

extension Double: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .float8 }
  public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self.bitPattern) }
  public func encodeText(into text: inout String) { text += floatingText(self) }
  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    switch cell.dataType {
    case .float8: self = Double(bitPattern: try decodeExactInteger(bytes, as: UInt64.self))
    case .float4: self = Double(Float(bitPattern: try decodeExactInteger(bytes, as: UInt32.self)))
    default: throw cell.typeMismatch(expected: "float4 or float8 (use PostgresDecimal for numeric)")
    }
  }
}

extension Float: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .float4 }
  public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self.bitPattern) }
  public func encodeText(into text: inout String) { text += floatingText(self) }
  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    guard cell.dataType == .float4 else { throw cell.typeMismatch(expected: "float4") }
    self = Float(bitPattern: try decodeExactInteger(bytes, as: UInt32.self))
  }
}

/// float4in/float8in syntax: Swift's shortest round-trip form, with PostgreSQL's spellings of
/// the special values.
private func floatingText<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> String {
  if value.isNaN { return "NaN" }
  if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
  return value.description
}

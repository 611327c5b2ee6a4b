/// The bound parameter values of a statement (`$1`, `$2`, ...), in PostgreSQL's binary format,
/// each tagged with its type.
public struct PostgresBindings: Sendable, Hashable {
  /// One bound value: its type and where its bytes are.
  struct Parameter: Sendable, Hashable {
    /// The parameter's type OID.
    var type: UInt32
    /// Length of the value, -1 for NULL.
    var length: Int32
    /// Start of the value in `bytes`.
    var offset: Int
  }

  /// The parameters, in order. (Two buffers in all, so binding a statement's values costs two
  /// allocations whatever their number.)
  private(set) var parameters: [Parameter] = []
  /// All encoded values back to back.
  private(set) var bytes: [UInt8] = []

  public init() {}

  /// Creates bindings and reserves room for `capacity` values.
  public init(capacity: Int) {
    self.parameters.reserveCapacity(capacity)
  }

  /// Number of bound values.
  public var count: Int { self.parameters.count }

  /// Parameter type OIDs, in order.
  var types: [UInt32] { self.parameters.map(\.type) }

  /// The PostgreSQL types of the bound values.
  public var dataTypes: [PostgresDataType] { self.parameters.map { PostgresDataType(rawValue: $0.type) } }

  /// Appends `value` as the next parameter (`nil` appends NULL of the wrapped type).
  public mutating func append<Value: PostgresEncodable>(_ value: Value) {
    let start = self.bytes.count
    if value.isPostgresNull {
      self.parameters.append(Parameter(type: Value.postgresType.rawValue, length: -1, offset: start))
      return
    }
    value.encode(into: &self.bytes)
    self.parameters.append(
      Parameter(type: Value.postgresType.rawValue, length: Int32(self.bytes.count - start), offset: start))
  }

  /// Appends an untyped-by-Swift NULL of the given PostgreSQL type.
  public mutating func appendNull(_ type: PostgresDataType) {
    self.parameters.append(Parameter(type: type.rawValue, length: -1, offset: self.bytes.count))
  }
}

extension PostgresBindings {
  /// Calls `body` with libpq's parameter arrays (count, types, values, lengths, formats — all
  /// binary). The pointers are valid only inside `body`.
  func withLibPQParameters<Result>(
    _ body: (
      Int32, UnsafePointer<UInt32>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?,
      UnsafePointer<Int32>?
    ) throws -> Result
  ) rethrows -> Result {
    let count = self.count
    // Values point into `bytes`; an empty buffer still needs a valid (non-NULL) address for
    // empty non-NULL values, so one scratch byte stands in for it. The arrays libpq reads are
    // built on the stack: no allocation per execution.
    return try self.bytes.withUnsafeBufferPointer { buffer in
      try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { scratch in
        let raw = UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(scratch.baseAddress!))
        return try withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(count, 1)) { values in
          try withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(count, 1) * 2) { integers in
            try withUnsafeTemporaryAllocation(of: UInt32.self, capacity: max(count, 1)) { types in
              let lengths = integers.baseAddress!
              let formats = lengths + max(count, 1)
              for (index, parameter) in self.parameters.enumerated() {
                // UInt8 and CChar are layout-compatible related types, so this rebinding is valid.
                values[index] =
                  parameter.length < 0 ? nil : (raw + parameter.offset).assumingMemoryBound(to: CChar.self)
                lengths[index] = parameter.length
                formats[index] = 1
                types[index] = parameter.type
              }
              return try body(
                Int32(count), UnsafePointer(types.baseAddress), UnsafePointer(values.baseAddress),
                UnsafePointer(lengths), UnsafePointer(formats))
            }
          }
        }
      }
    }
  }
}

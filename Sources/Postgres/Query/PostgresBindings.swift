/// The bound parameter values of a statement (`$1`, `$2`, ...), in PostgreSQL's binary format,
/// each tagged with its type.
public struct PostgresBindings: Sendable, Hashable {
  /// Parameter type OIDs, in order.
  private(set) var types: [UInt32] = []
  /// All encoded values back to back.
  private(set) var bytes: [UInt8] = []
  /// Start of each value in `bytes`.
  private(set) var offsets: [Int] = []
  /// Length of each value, -1 for NULL.
  private(set) var lengths: [Int32] = []

  public init() {}

  /// Creates bindings and reserves room for `capacity` values.
  public init(capacity: Int) {
    self.types.reserveCapacity(capacity)
    self.offsets.reserveCapacity(capacity)
    self.lengths.reserveCapacity(capacity)
  }

  /// Number of bound values.
  public var count: Int { self.types.count }

  /// The PostgreSQL types of the bound values.
  public var dataTypes: [PostgresDataType] { self.types.map(PostgresDataType.init(rawValue:)) }

  /// Appends `value` as the next parameter (`nil` appends NULL of the wrapped type).
  public mutating func append<Value: PostgresEncodable>(_ value: Value) {
    self.types.append(Value.postgresType.rawValue)
    self.offsets.append(self.bytes.count)
    if value.isPostgresNull {
      self.lengths.append(-1)
      return
    }
    let start = self.bytes.count
    value.encode(into: &self.bytes)
    self.lengths.append(Int32(self.bytes.count - start))
  }

  /// Appends an untyped-by-Swift NULL of the given PostgreSQL type.
  public mutating func appendNull(_ type: PostgresDataType) {
    self.types.append(type.rawValue)
    self.offsets.append(self.bytes.count)
    self.lengths.append(-1)
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
    // empty non-NULL values, so one scratch byte stands in for it.
    return try self.bytes.withUnsafeBufferPointer { buffer in
      try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { scratch in
        let raw = UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(scratch.baseAddress!))
        // Pointer and format arrays on the stack: no allocation per execution.
        return try withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(count, 1)) { values in
          try withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(count, 1)) { formats in
            for index in 0..<count {
              // UInt8 and CChar are layout-compatible related types, so this rebinding is valid.
              values[index] =
                self.lengths[index] < 0 ? nil : (raw + self.offsets[index]).assumingMemoryBound(to: CChar.self)
              formats[index] = 1
            }
            return try self.types.withUnsafeBufferPointer { types in
              try self.lengths.withUnsafeBufferPointer { lengths in
                try body(
                  Int32(count), types.baseAddress, UnsafePointer(values.baseAddress), lengths.baseAddress,
                  UnsafePointer(formats.baseAddress))
              }
            }
          }
        }
      }
    }
  }
}

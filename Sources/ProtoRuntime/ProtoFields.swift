/// Iterates the fields of a protobuf encoding without a schema (used to read the compiled-in
/// `FileDescriptorProto`s): length-delimited fields with their bytes, varint fields with their
/// value; fixed-width fields are skipped. Stops at the first malformed field.
public struct ProtoFields: Sequence, IteratorProtocol {
  public struct Field {
    public let number: Int
    /// The bytes of a length-delimited field (empty for a varint).
    public let bytes: ArraySlice<UInt8>
    /// The value of a varint field.
    public let varint: UInt64?
    /// The bytes as UTF-8 text.
    public var string: String { String(decoding: self.bytes, as: UTF8.self) }
  }

  private var bytes: ArraySlice<UInt8>

  public init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  private mutating func readVarint() -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while let byte = self.bytes.popFirst() {
      value |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return value }
      shift += 7
      if shift > 63 { return nil }
    }
    return nil
  }

  public mutating func next() -> Field? {
    while !self.bytes.isEmpty {
      guard let key = self.readVarint() else { return nil }
      let number = Int(key >> 3)
      switch key & 7 {
      case 0:
        guard let value = self.readVarint() else { return nil }
        return Field(number: number, bytes: [], varint: value)
      case 1: guard self.bytes.count >= 8 else { return nil }; self.bytes = self.bytes.dropFirst(8)
      case 5: guard self.bytes.count >= 4 else { return nil }; self.bytes = self.bytes.dropFirst(4)
      case 2:
        guard let length = self.readVarint(), length <= UInt64(self.bytes.count) else { return nil }
        let field = self.bytes.prefix(Int(length))
        self.bytes = self.bytes.dropFirst(Int(length))
        return Field(number: number, bytes: field, varint: nil)
      default: return nil
      }
    }
    return nil
  }
}

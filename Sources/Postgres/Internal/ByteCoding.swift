/// Big-endian reads from a binary value. Every read is bounds-checked and throws a decoding
/// error on truncated input, so malformed server data never traps.
struct ByteReader {
  private var bytes: ArraySlice<UInt8>

  init(_ bytes: ArraySlice<UInt8>) {
    self.bytes = bytes
  }

  var remaining: Int { self.bytes.count }
  var isAtEnd: Bool { self.bytes.isEmpty }

  mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws -> T {
    let size = MemoryLayout<T>.size
    guard self.bytes.count >= size else {
      throw PostgresError.decoding("truncated value: needed \(size) more bytes")
    }
    var value: T = 0
    for byte in self.bytes.prefix(size) {
      value = (value << 8) | T(truncatingIfNeeded: byte)
    }
    self.bytes = self.bytes.dropFirst(size)
    return value
  }

  mutating func readBytes(_ count: Int) throws -> ArraySlice<UInt8> {
    guard count >= 0, self.bytes.count >= count else {
      throw PostgresError.decoding("truncated value: needed \(count) more bytes")
    }
    let result = self.bytes.prefix(count)
    self.bytes = self.bytes.dropFirst(count)
    return result
  }

  func requireEnd() throws {
    guard self.bytes.isEmpty else {
      throw PostgresError.decoding("malformed value: \(self.bytes.count) unexpected trailing bytes")
    }
  }
}

extension Array where Element == UInt8 {
  mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
    let size = MemoryLayout<T>.size
    var shift = (size - 1) * 8
    while shift >= 0 {
      self.append(UInt8(truncatingIfNeeded: value >> shift))
      shift -= 8
    }
  }
}

/// Reads a whole fixed-size big-endian integer, checking the length.
func decodeExactInteger<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>, as: T.Type) throws -> T {
  guard bytes.count == MemoryLayout<T>.size else {
    throw PostgresError.decoding(
      "malformed value: expected \(MemoryLayout<T>.size) bytes, got \(bytes.count)")
  }
  var reader = ByteReader(bytes)
  return try reader.readInteger(as: T.self)
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

func hexString(_ bytes: some Sequence<UInt8>) -> String {
  var out: [UInt8] = []
  for byte in bytes {
    out.append(hexDigits[Int(byte >> 4)])
    out.append(hexDigits[Int(byte & 0x0F)])
  }
  return String(decoding: out, as: UTF8.self)
}

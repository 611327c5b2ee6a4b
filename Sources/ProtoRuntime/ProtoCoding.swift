/// Conversions between protobuf-c's C representation and Swift values, shared by the
/// generated messages of the `<Stem>Protos` modules.
package enum ProtoCoding {
  /// Messages up to this size are packed into stack memory.
  package static let stackBufferLimit = 4096

  /// Packs a message of `size` bytes with `pack` into a temporary buffer and passes the
  /// encoding to `body`. `pack` receives a buffer of exactly `size` bytes and returns the
  /// number of bytes it wrote.
  ///
  /// Small encodings use stack memory (`withUnsafeTemporaryAllocation`), larger ones a heap
  /// buffer freed on return; either way the buffer is valid only during `body`.
  package static func withPackedBytes<Result>(
    size: Int,
    pack: (UnsafeMutablePointer<UInt8>) -> Int,
    _ body: (UnsafeRawBufferPointer) throws -> Result
  ) rethrows -> Result {
    if size == 0 {
      return try body(UnsafeRawBufferPointer(start: nil, count: 0))
    }
    if size <= Self.stackBufferLimit {
      return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { buffer in
        let written = pack(buffer.baseAddress!)
        precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size).")
        return try body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: written))
      }
    }
    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
    defer { buffer.deallocate() }
    let written = pack(buffer)
    precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size).")
    return try body(UnsafeRawBufferPointer(start: buffer, count: written))
  }

  /// The start of `bytes` as protobuf-c's `const uint8_t *`.
  package static func data(_ bytes: UnsafeRawBufferPointer) -> UnsafePointer<UInt8>? {
    bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
  }

  /// A Swift string from a protobuf-c `char *` (NULL reads as empty).
  ///
  /// protobuf-c strings are NUL-terminated, so a string with an embedded NUL would end there,
  /// and invalid UTF-8 would be repaired with U+FFFD: decoding refuses both beforehand
  /// (``checkStrings(_:descriptor:messageName:)``).
  package static func string(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
  }

  /// A copy of `count` bytes at `data` (NULL or 0 reads as empty).
  package static func bytes(_ data: UnsafePointer<UInt8>?, count: Int) -> [UInt8] {
    guard let data, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: count))
  }

  /// A Swift array of `count` elements at `pointer` (NULL or 0 reads as empty).
  package static func array<T>(_ pointer: UnsafePointer<T>?, count: Int) -> [T] {
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
  }

  /// Converts protobuf-c's `protobuf_c_boolean` values (C `int`) to Swift `Bool`s.
  package static func bools(_ pointer: UnsafePointer<Int32>?, count: Int) -> [Bool] {
    guard let pointer, count > 0 else { return [] }
    return UnsafeBufferPointer(start: pointer, count: count).map { $0 != 0 }
  }

  /// Copies `values` as `protobuf_c_boolean`s (C `int`) into `arena`.
  package static func bools(_ values: [Bool], in arena: ProtoArena) -> UnsafeMutablePointer<Int32>? {
    guard !values.isEmpty else { return nil }
    let pointer = arena.allocate(Int32.self, count: values.count)
    for index in values.indices { pointer[index] = values[index] ? 1 : 0 }
    return pointer
  }
}

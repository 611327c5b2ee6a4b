/// Scoped memory for the C structs protobuf-c packs: strings, byte buffers, arrays and nested
/// messages built while encoding one message.
///
/// Ownership: the arena owns every block it hands out and frees them all in `deinit` (or in
/// ``reset()``). Pointers it returns are valid only while the arena is alive and not reset, so
/// generated code keeps the arena alive (`withExtendedLifetime`) for exactly the duration of one
/// `withSerializedBytes` call and never lets a pointer escape it.
///
/// Memory is handed out from chunks with a bump pointer, so encoding a message with many small
/// strings costs a few `malloc`s rather than one per field. Nothing is allocated until the
/// first request. Every block is zero-filled, so C structs placed in it start out valid before
/// their protobuf-c `__init` runs. Only trivial types (integers, pointers, C structs) may be
/// stored: the arena never runs deinitializers.
///
/// Not `Sendable`: an arena belongs to the single call that encodes a message.
package final class ProtoArena {
  /// Every block allocated so far, freed together.
  private var blocks: [UnsafeMutableRawPointer] = []
  /// The unused tail of the current chunk.
  private var cursor: UnsafeMutableRawPointer?
  private var remaining = 0
  /// The size of the next chunk; doubles up to `maxChunkSize`.
  private var nextChunkSize = 512

  private static let maxChunkSize = 64 * 1024
  private static let chunkAlignment = 16

  package init() {}

  deinit {
    self.freeAll()
  }

  /// Frees every block; pointers handed out before become invalid.
  package func reset() {
    self.freeAll()
    self.cursor = nil
    self.remaining = 0
  }

  private func freeAll() {
    for block in self.blocks { block.deallocate() }
    self.blocks.removeAll()
  }

  /// `byteCount` zeroed bytes aligned to `alignment` (a power of two, at most 16).
  package func allocateBytes(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer {
    precondition(alignment > 0 && alignment <= Self.chunkAlignment && alignment & (alignment - 1) == 0)
    let size = max(byteCount, 1)
    if let cursor = self.cursor {
      let padding = (alignment - Int(bitPattern: cursor) & (alignment - 1)) & (alignment - 1)
      if padding + size <= self.remaining {
        let start = cursor + padding
        self.cursor = start + size
        self.remaining -= padding + size
        start.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        return start
      }
    }
    if size > self.nextChunkSize / 2 {
      // Large requests get a block of their own; the current chunk stays in use.
      let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Self.chunkAlignment)
      self.blocks.append(block)
      block.initializeMemory(as: UInt8.self, repeating: 0, count: size)
      return block
    }
    let chunkSize = self.nextChunkSize
    self.nextChunkSize = min(chunkSize * 2, Self.maxChunkSize)
    let chunk = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: Self.chunkAlignment)
    self.blocks.append(chunk)
    self.cursor = chunk + size
    self.remaining = chunkSize - size
    chunk.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    return chunk
  }

  /// Zeroed memory for `count` values of the trivial type `T`.
  package func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
    let raw = self.allocateBytes(
      byteCount: MemoryLayout<T>.stride * count, alignment: MemoryLayout<T>.alignment)
    return raw.bindMemory(to: T.self, capacity: count)
  }

  /// A copy of `values` (trivial `T`), or `nil` when it is empty (protobuf-c reads no
  /// elements when the count is 0).
  package func copy<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
    guard !values.isEmpty else { return nil }
    let pointer = self.allocate(T.self, count: values.count)
    values.withUnsafeBufferPointer { source in
      pointer.update(from: source.baseAddress!, count: source.count)
    }
    return pointer
  }

  /// A NUL-terminated copy of the UTF-8 of `string`.
  ///
  /// - Important: protobuf-c represents strings as `char *`, so an embedded NUL character
  ///   ends the string: everything after it is not encoded.
  package func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
    let utf8 = string.utf8
    let count = utf8.count
    let pointer = self.allocate(CChar.self, count: count + 1)
    let copied = utf8.withContiguousStorageIfAvailable { source -> Bool in
      if let base = source.baseAddress {
        UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: count)
      }
      return true
    }
    if copied == nil {
      var index = 0
      for byte in utf8 {
        pointer[index] = CChar(bitPattern: byte)
        index += 1
      }
    }
    // The terminating NUL is already there: arena memory is zero-filled.
    return pointer
  }

  /// A copy of `bytes`, or `nil` when it is empty.
  package func bytes(_ bytes: [UInt8]) -> UnsafeMutablePointer<UInt8>? {
    self.copy(bytes)
  }
}

internal import CZlib
internal import RPCCore

/// gzip for `grpc-encoding: gzip` messages, on zlib.
enum Gzip {
  /// gzip wrapper around deflate (15-bit window + 16).
  private static let windowBits: Int32 = 15 + 16

  /// Compresses `bytes` into a gzip member.
  static func compress(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
    var stream = z_stream()
    guard CZlib_deflateInit2(&stream, Z_DEFAULT_COMPRESSION, self.windowBits) == Z_OK else {
      throw RPCError(code: .internal, message: "Could not start gzip compression.")
    }
    defer { deflateEnd(&stream) }
    let bound = Int(deflateBound(&stream, uLong(bytes.count))) + 32
    var output = [UInt8](repeating: 0, count: bound)
    let produced: Int = try output.withUnsafeMutableBytes { out in
      stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
      stream.avail_in = uInt(bytes.count)
      stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
      stream.avail_out = uInt(out.count)
      guard deflate(&stream, Z_FINISH) == Z_STREAM_END else {
        throw RPCError(code: .internal, message: "gzip compression failed.")
      }
      return out.count - Int(stream.avail_out)
    }
    output.removeSubrange(produced...)
    return output
  }

  /// Decompresses a gzip member, refusing output larger than `limit` bytes.
  ///
  /// - Throws: `RESOURCE_EXHAUSTED` past the limit (a small message can inflate enormously),
  ///   `INTERNAL` for data that is not gzip.
  static func decompress(_ bytes: ArraySlice<UInt8>, limit: Int) throws -> [UInt8] {
    var stream = z_stream()
    guard CZlib_inflateInit2(&stream, self.windowBits) == Z_OK else {
      throw RPCError(code: .internal, message: "Could not start gzip decompression.")
    }
    defer { inflateEnd(&stream) }
    var output = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    try bytes.withUnsafeBytes { input in
      stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
      stream.avail_in = uInt(input.count)
      while true {
        let (status, produced) = chunk.withUnsafeMutableBytes { out -> (Int32, Int) in
          stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
          stream.avail_out = uInt(out.count)
          let status = inflate(&stream, Z_NO_FLUSH)
          return (status, out.count - Int(stream.avail_out))
        }
        guard status == Z_OK || status == Z_STREAM_END || (status == Z_BUF_ERROR && produced > 0) else {
          throw RPCError(code: .internal, message: "Could not decompress a gzip message.")
        }
        output.append(contentsOf: chunk[0..<produced])
        if output.count > limit {
          throw RPCError(
            code: .resourceExhausted,
            message: "Decompressed message larger than max (over \(limit) bytes).")
        }
        if status == Z_STREAM_END { return }
        if produced == 0 && stream.avail_in == 0 {
          throw RPCError(code: .internal, message: "Truncated gzip message.")
        }
      }
    }
    return output
  }
}

internal import RPCCore

/// Messages waiting to be copied into DATA frames, in order.
///
/// A message is held as its bytes plus, when it was not framed by its producer, the 5-byte gRPC
/// prefix to send before them: a proxy forwards the slice it received and never copies it into
/// a framed array. The common case, one message waiting (every unary response), is held
/// without a queue.
struct OutboundMessages {
  /// One message: an optional gRPC prefix, then `body`.
  private struct Chunk {
    /// The 5 prefix bytes in the low 40 bits, most significant first; used when `hasPrefix`.
    var prefix: UInt64 = 0
    var hasPrefix = false
    var body: ArraySlice<UInt8> = []

    var count: Int { (self.hasPrefix ? 5 : 0) + self.body.count }
  }

  /// The first waiting message, before any in `queue`.
  private var first = Chunk()
  private var queue: [Chunk] = []
  private var head = 0
  /// Bytes of `first` (or of `queue[head]` when `first` is empty) already copied out.
  private var offset = 0
  private(set) var pendingBytes = 0

  var isEmpty: Bool { self.pendingBytes == 0 }

  /// Queues bytes that are already framed.
  mutating func append(_ framed: [UInt8]) {
    self.append(Chunk(body: framed[...]))
  }

  /// Queues `body` as one uncompressed message, prefix added on the way out (no copy).
  mutating func append(unframed body: ArraySlice<UInt8>) {
    let length = UInt64(body.count)
    self.append(Chunk(prefix: length & 0xFFFF_FFFF, hasPrefix: true, body: body))
  }

  private mutating func append(_ chunk: Chunk) {
    let count = chunk.count
    guard count > 0 else { return }
    if self.pendingBytes == 0 {
      self.first = chunk
      self.offset = 0
    } else {
      self.queue.append(chunk)
    }
    self.pendingBytes += count
  }

  /// Copies up to `buffer.count` bytes into `buffer`; returns how many.
  mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    var written = 0
    while written < buffer.count && self.pendingBytes - written > 0 {
      if self.first.count == 0 {
        // Promote the next queued message.
        self.first = self.queue[self.head]
        self.queue[self.head] = Chunk()
        self.head += 1
        self.offset = 0
      }
      if self.first.hasPrefix {
        while self.offset < 5 && written < buffer.count {
          buffer[written] = UInt8(truncatingIfNeeded: self.first.prefix >> (8 * UInt64(4 - self.offset)))
          written += 1
          self.offset += 1
        }
      }
      let bodyOffset = self.offset - (self.first.hasPrefix ? 5 : 0)
      let count = min(self.first.body.count - bodyOffset, buffer.count - written)
      if count > 0 {
        self.first.body.withUnsafeBytes { source in
          let slice = UnsafeRawBufferPointer(rebasing: source[bodyOffset..<(bodyOffset + count)])
          UnsafeMutableRawBufferPointer(rebasing: buffer[written..<(written + count)]).copyMemory(from: slice)
        }
        written += count
        self.offset += count
      }
      if self.offset == self.first.count {
        self.first = Chunk()
        self.offset = 0
      }
    }
    self.pendingBytes -= written
    if self.head == self.queue.count {
      if self.head > 0 { self.queue.removeAll(keepingCapacity: true) }
      self.head = 0
    } else if self.head > 32 {
      self.queue.removeFirst(self.head)
      self.head = 0
    }
    return written
  }
}

/// Encodes a message into a framed byte array (prefix + protobuf bytes).
func framedBytes(of body: UnsafeRawBufferPointer) -> [UInt8] {
  [UInt8](unsafeUninitializedCapacity: body.count + 5) { buffer, count in
    let raw = UnsafeMutableRawBufferPointer(buffer)
    raw[0] = 0
    raw[1] = UInt8(truncatingIfNeeded: body.count >> 24)
    raw[2] = UInt8(truncatingIfNeeded: body.count >> 16)
    raw[3] = UInt8(truncatingIfNeeded: body.count >> 8)
    raw[4] = UInt8(truncatingIfNeeded: body.count)
    if body.count > 0 {
      UnsafeMutableRawBufferPointer(rebasing: raw[5...]).copyMemory(from: body)
    }
    count = body.count + 5
  }
}

/// A message on its way out: framed already, or raw bytes that may still be compressed.
enum OutgoingMessage: Sendable {
  /// Framed uncompressed (the common path: one copy).
  case framed([UInt8])
  /// Protobuf bytes the caller wants compressed if the peer accepts it.
  case compressible([UInt8])
  /// Protobuf bytes sent uncompressed as they are, framed on the way out without a copy
  /// (a proxy's forwarded message).
  case payload(ArraySlice<UInt8>)

  /// Encodes `message` for sending.
  static func encoding(_ message: some RPCMessage, wantsCompression: Bool) throws -> OutgoingMessage {
    if wantsCompression {
      return .compressible(try message.withSerializedBytes { Array($0) })
    }
    return .framed(try message.withSerializedBytes { framedBytes(of: $0) })
  }

  /// Queues the message on `outbound`, gzip-compressed with the flag set when `compress`
  /// allows it.
  func append(to outbound: inout OutboundMessages, compress: Bool) throws {
    switch self {
    case .framed(let framed):
      outbound.append(framed)
    case .payload(let bytes):
      outbound.append(unframed: bytes)
    case .compressible(let bytes):
      guard compress else {
        outbound.append(unframed: bytes[...])
        return
      }
      let compressed = try bytes.withUnsafeBytes { try Gzip.compress($0) }
      var out = compressed.withUnsafeBytes { framedBytes(of: $0) }
      out[0] = 1
      outbound.append(out)
    }
  }
}

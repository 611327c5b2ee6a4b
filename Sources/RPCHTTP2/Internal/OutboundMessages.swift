internal import RPCCore

/// Framed messages waiting to be copied into DATA frames, in order.
///
/// The common case, one message waiting (every unary response), is held without a queue.
struct OutboundMessages {
  /// The first waiting message, before any in `queue`.
  private var first: [UInt8] = []
  private var queue: [[UInt8]] = []
  private var head = 0
  /// Bytes of `first` (or of `queue[head]` when `first` is empty) already copied out.
  private var offset = 0
  private(set) var pendingBytes = 0

  var isEmpty: Bool { self.pendingBytes == 0 }

  mutating func append(_ framed: [UInt8]) {
    guard !framed.isEmpty else { return }
    if self.pendingBytes == 0 {
      self.first = framed
      self.offset = 0
    } else {
      self.queue.append(framed)
    }
    self.pendingBytes += framed.count
  }

  /// Copies up to `buffer.count` bytes into `buffer`; returns how many.
  mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    var written = 0
    while written < buffer.count && self.pendingBytes - written > 0 {
      if self.first.isEmpty {
        // Promote the next queued message.
        self.first = self.queue[self.head]
        self.head += 1
        self.offset = 0
      }
      let count = min(self.first.count - self.offset, buffer.count - written)
      self.first.withUnsafeBytes { source in
        let slice = UnsafeRawBufferPointer(rebasing: source[self.offset..<(self.offset + count)])
        UnsafeMutableRawBufferPointer(rebasing: buffer[written..<(written + count)]).copyMemory(from: slice)
      }
      written += count
      self.offset += count
      if self.offset == self.first.count {
        self.first = []
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

  /// Encodes `message` for sending.
  static func encoding(_ message: some RPCMessage, wantsCompression: Bool) throws -> OutgoingMessage {
    if wantsCompression {
      return .compressible(try message.withSerializedBytes { Array($0) })
    }
    return .framed(try message.withSerializedBytes { framedBytes(of: $0) })
  }

  /// The framed bytes, gzip-compressed with the flag set when `compress` allows it.
  func framed(compress: Bool) throws -> [UInt8] {
    switch self {
    case .framed(let framed):
      return framed
    case .compressible(let bytes):
      guard compress else { return bytes.withUnsafeBytes { framedBytes(of: $0) } }
      let compressed = try bytes.withUnsafeBytes { try Gzip.compress($0) }
      var out = compressed.withUnsafeBytes { framedBytes(of: $0) }
      out[0] = 1
      return out
    }
  }
}

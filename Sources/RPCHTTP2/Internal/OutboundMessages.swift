internal import RPCCore

/// Messages waiting to be copied into DATA frames, in order.
///
/// The common case, one message waiting (every unary response), is held without a queue. A
/// message that was not framed by its producer (a proxy's forwarded payload) goes out as the
/// slice it arrived in with its 5-byte prefix kept apart when it is the only one waiting, and
/// is framed by a copy otherwise; queued messages are plain framed arrays, so a stream of many
/// messages pays nothing for the unframed case.
struct OutboundMessages {
  /// The first waiting message, before any in `queue`.
  private var first: ArraySlice<UInt8> = []
  /// Whether `first` goes out after a gRPC prefix (uncompressed, its length) made on the way.
  private var firstIsUnframed = false
  private var queue: [[UInt8]] = []
  private var head = 0
  /// Bytes of the first message (prefix included) already copied out.
  private var offset = 0
  private(set) var pendingBytes = 0

  var isEmpty: Bool { self.pendingBytes == 0 }

  /// Queues bytes that are already framed.
  mutating func append(_ framed: [UInt8]) {
    guard !framed.isEmpty else { return }
    if self.pendingBytes == 0 {
      self.first = framed[...]
      self.firstIsUnframed = false
      self.offset = 0
    } else {
      self.queue.append(framed)
    }
    self.pendingBytes += framed.count
  }

  /// Queues `body` as one uncompressed message; its prefix is added on the way out.
  mutating func append(unframed body: ArraySlice<UInt8>) {
    guard self.pendingBytes == 0 else {
      self.append(body.withUnsafeBytes { framedBytes(of: $0) })
      return
    }
    self.first = body
    self.firstIsUnframed = true
    self.offset = 0
    self.pendingBytes = body.count + GRPCMessageFramer.prefixLength
  }

  private var firstLength: Int { self.first.count + (self.firstIsUnframed ? GRPCMessageFramer.prefixLength : 0) }

  /// Copies up to `buffer.count` bytes into `buffer`; returns how many.
  mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    var written = 0
    while written < buffer.count && self.pendingBytes - written > 0 {
      if self.first.isEmpty && !self.firstIsUnframed {
        // Promote the next queued message.
        self.first = self.queue[self.head][...]
        self.head += 1
        self.offset = 0
      }
      let prefixLength = self.firstIsUnframed ? GRPCMessageFramer.prefixLength : 0
      if self.offset < prefixLength {
        let count = min(prefixLength - self.offset, buffer.count - written)
        withUnsafeTemporaryAllocation(byteCount: prefixLength, alignment: 1) { prefix in
          GRPCMessageFramer.writePrefix(length: self.first.count, compressed: false, into: prefix)
          UnsafeMutableRawBufferPointer(rebasing: buffer[written..<(written + count)])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: prefix[self.offset..<(self.offset + count)]))
        }
        written += count
        self.offset += count
      }
      let bodyOffset = self.offset - prefixLength
      let count = min(self.first.count - bodyOffset, buffer.count - written)
      if count > 0 {
        self.first.withUnsafeBytes { source in
          let slice = UnsafeRawBufferPointer(rebasing: source[bodyOffset..<(bodyOffset + count)])
          UnsafeMutableRawBufferPointer(rebasing: buffer[written..<(written + count)]).copyMemory(from: slice)
        }
        written += count
        self.offset += count
      }
      if self.offset == self.firstLength {
        self.first = []
        self.firstIsUnframed = false
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
  let prefixLength = GRPCMessageFramer.prefixLength
  return [UInt8](unsafeUninitializedCapacity: body.count + prefixLength) { buffer, count in
    let raw = UnsafeMutableRawBufferPointer(buffer)
    GRPCMessageFramer.writePrefix(length: body.count, compressed: false, into: raw)
    if body.count > 0 {
      UnsafeMutableRawBufferPointer(rebasing: raw[prefixLength...]).copyMemory(from: body)
    }
    count = body.count + prefixLength
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

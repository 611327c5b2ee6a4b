/// Splits a byte stream into gRPC length-prefixed messages.
///
/// Each message on the wire is a 1-byte compressed flag, a 4-byte big-endian length and that
/// many bytes. Bytes arrive in arbitrary chunks (one DATA frame can hold several messages, one
/// message can span many frames, a prefix can be cut anywhere); ``append(_:)`` buffers them and
/// ``next()`` returns each complete message once.
public struct GRPCMessageDeframer: Sendable {
  /// A complete message.
  public struct Message: Sendable, Equatable {
    /// Whether the compressed flag was set.
    public var compressed: Bool
    /// The message bytes (still compressed when ``compressed`` is true).
    public var bytes: ArraySlice<UInt8>
  }

  /// Why the byte stream cannot be deframed.
  public enum Failure: Error, Sendable, Equatable {
    /// A length prefix announced a message larger than the limit.
    case messageTooLarge(length: Int, limit: Int)
    /// The compressed flag was neither 0 nor 1.
    case invalidCompressedFlag(UInt8)
  }

  /// The largest message accepted, in bytes.
  public let maxMessageBytes: Int
  private var buffer: [UInt8] = []
  private var readIndex = 0

  public init(maxMessageBytes: Int) {
    self.maxMessageBytes = maxMessageBytes
  }

  /// Bytes buffered that do not yet form a complete message.
  public var bufferedByteCount: Int { self.buffer.count - self.readIndex }

  /// Appends received bytes.
  public mutating func append(_ bytes: UnsafeRawBufferPointer) {
    if self.readIndex > 0 && self.readIndex == self.buffer.count {
      self.buffer.removeAll(keepingCapacity: true)
      self.readIndex = 0
    }
    self.buffer.append(contentsOf: bytes)
  }

  /// Appends received bytes.
  public mutating func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { self.append($0) }
  }

  /// The next complete message, or `nil` when more bytes are needed.
  ///
  /// - Throws: ``Failure`` when the prefix is invalid or announces a message over the limit;
  ///   the deframer must not be used afterwards.
  public mutating func next() throws(Failure) -> Message? {
    let available = self.buffer.count - self.readIndex
    guard available >= 5 else { return nil }
    let flag = self.buffer[self.readIndex]
    guard flag <= 1 else { throw .invalidCompressedFlag(flag) }
    var length = 0
    for offset in 1...4 {
      length = length << 8 | Int(self.buffer[self.readIndex + offset])
    }
    guard length <= self.maxMessageBytes else {
      throw .messageTooLarge(length: length, limit: self.maxMessageBytes)
    }
    guard available - 5 >= length else { return nil }
    let start = self.readIndex + 5
    let bytes = self.buffer[start..<(start + length)]
    self.readIndex = start + length
    if self.readIndex == self.buffer.count {
      // Hand the storage to the message and start a fresh buffer: no copy for the common
      // case of one message per stream.
      self.buffer = []
      self.readIndex = 0
    } else if self.readIndex > 65_536 && self.readIndex * 2 > self.buffer.count {
      self.buffer.removeSubrange(0..<self.readIndex)
      self.readIndex = 0
      return Message(compressed: flag == 1, bytes: ArraySlice(Array(bytes)))
    }
    return Message(compressed: flag == 1, bytes: bytes)
  }
}

/// Writes the 5-byte gRPC message prefix.
public enum GRPCMessageFramer {
  /// The size of the prefix that precedes every message.
  public static let prefixLength = 5

  /// Writes the prefix for a message of `length` bytes into `prefix` (at least 5 bytes).
  public static func writePrefix(
    length: Int, compressed: Bool, into prefix: UnsafeMutableRawBufferPointer
  ) {
    prefix[0] = compressed ? 1 : 0
    prefix[1] = UInt8(truncatingIfNeeded: length >> 24)
    prefix[2] = UInt8(truncatingIfNeeded: length >> 16)
    prefix[3] = UInt8(truncatingIfNeeded: length >> 8)
    prefix[4] = UInt8(truncatingIfNeeded: length)
  }

  /// A framed copy of `message`.
  public static func frame(_ message: [UInt8], compressed: Bool = false) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 5)
    out.withUnsafeMutableBytes {
      self.writePrefix(length: message.count, compressed: compressed, into: $0)
    }
    out.append(contentsOf: message)
    return out
  }
}

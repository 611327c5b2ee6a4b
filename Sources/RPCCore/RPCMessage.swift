/// A message that can travel in an RPC: a generated protobuf message type.
///
/// Generated types implement both requirements with protobuf-c; the transport calls them to
/// decode request bytes straight from its receive buffer and to encode responses without an
/// intermediate array.
public protocol RPCMessage: Sendable {
  /// A message with every field at its default value.
  init()

  /// Decodes a message from protobuf wire bytes.
  ///
  /// - Throws: ``RPCError`` with code `internal` when the bytes are not a valid encoding.
  /// - Important: `bytes` is only valid for the duration of the call.
  init(serializedBytes bytes: UnsafeRawBufferPointer) throws

  /// Encodes the message and passes the encoding to `body`.
  ///
  /// - Important: the buffer passed to `body` is only valid during the call.
  func withSerializedBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws
    -> Result
}

extension RPCMessage {
  /// Decodes a message from protobuf wire bytes.
  public init(serializedBytes bytes: [UInt8]) throws {
    self = try bytes.withUnsafeBytes { try Self(serializedBytes: $0) }
  }

  /// The protobuf encoding of the message.
  public func serializedBytes() throws -> [UInt8] {
    try self.withSerializedBytes { Array($0) }
  }
}

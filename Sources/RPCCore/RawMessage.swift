/// A message kept as its protobuf bytes, never decoded: what a proxy forwards.
public struct RawMessage: RPCMessage, Hashable {
  /// The protobuf encoding.
  public var bytes: [UInt8]

  public init() {
    self.bytes = []
  }

  public init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
    self.bytes = Array(bytes)
  }

  public func withSerializedBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
    try self.bytes.withUnsafeBytes(body)
  }
}

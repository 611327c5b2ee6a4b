package import RPCCore
internal import CProtobufC

extension ProtoCoding {
  /// The error every generated message throws for bytes protobuf-c cannot decode.
  package static func decodingError(_ fullName: String) -> RPCError {
    RPCError(code: .internal, message: "Failed to decode \(fullName): invalid protobuf.")
  }

  /// Unpacks `bytes` with protobuf-c's generic decoder, for nested message types (protoc-c
  /// emits `__unpack` only for top-level messages).
  ///
  /// - Parameter descriptor: the message's `ProtobufCMessageDescriptor`, as stored in the
  ///   `base.descriptor` of a struct its `__init` function initialised. It must be the
  ///   descriptor's global address: protobuf-c keeps it in the unpacked message.
  /// - Returns: the message, to be released with ``freeUnpacked(_:)``; `nil` for invalid bytes.
  package static func unpack(
    descriptor: UnsafeRawPointer, bytes: UnsafeRawBufferPointer
  ) -> UnsafeMutableRawPointer? {
    let message = protobuf_c_message_unpack(
      descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self),
      nil, bytes.count, Self.data(bytes))
    return message.map { UnsafeMutableRawPointer($0) }
  }

  /// Frees a message returned by ``unpack(descriptor:bytes:)``.
  package static func freeUnpacked(_ message: UnsafeMutableRawPointer) {
    protobuf_c_message_free_unpacked(message.assumingMemoryBound(to: ProtobufCMessage.self), nil)
  }

  /// Packs any protobuf-c message struct (`message` points at its `ProtobufCMessage base`) and
  /// passes the encoding to `body`.
  package static func withPackedBytes<Result>(
    message: UnsafeRawPointer, _ body: (UnsafeRawBufferPointer) throws -> Result
  ) rethrows -> Result {
    let base = message.assumingMemoryBound(to: ProtobufCMessage.self)
    return try Self.withPackedBytes(
      size: protobuf_c_message_get_packed_size(base),
      pack: { protobuf_c_message_pack(base, $0) },
      body)
  }
}

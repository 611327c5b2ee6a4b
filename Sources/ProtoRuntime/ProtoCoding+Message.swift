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

extension ProtoCoding {
  /// Throws unless every `string` field in `bytes` (an encoding of the message `descriptor`
  /// describes, nested messages and map entries included) is valid UTF-8 without NUL.
  ///
  /// protobuf-c neither checks UTF-8 nor keeps a string's length: it hands strings over as
  /// NUL-terminated `char *`. Without this check a NUL would cut a received string short and
  /// invalid UTF-8 would be repaired, silently. proto3 requires UTF-8, so invalid UTF-8 fails
  /// like any other undecodable message (`INTERNAL`, as gRPC's other implementations answer);
  /// a NUL is valid protobuf that these messages cannot carry, so it is `INVALID_ARGUMENT`.
  ///
  /// Call it once protobuf-c has unpacked `bytes`: it walks well-formed wire data and stops
  /// quietly at anything else.
  ///
  /// - Parameter descriptor: the message's `ProtobufCMessageDescriptor`.
  package static func checkStrings(
    _ bytes: UnsafeRawBufferPointer, descriptor: UnsafeRawPointer, messageName: String
  ) throws(RPCError) {
    var reader = WireReader(bytes: bytes)
    try reader.checkStrings(
      descriptor: descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self), messageName: messageName, depth: 0)
  }
}

/// A cursor over protobuf wire data.
private struct WireReader {
  let bytes: UnsafeRawBufferPointer
  var offset = 0

  init(bytes: UnsafeRawBufferPointer) {
    self.bytes = bytes
  }

  /// Nesting deeper than this is refused (protobuf's usual limit).
  static let maxDepth = 100

  mutating func varint() -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while self.offset < self.bytes.count, shift < 64 {
      let byte = self.bytes[self.offset]
      self.offset += 1
      value |= UInt64(byte & 0x7F) << shift
      if byte < 0x80 { return value }
      shift += 7
    }
    return nil
  }

  mutating func checkStrings(
    descriptor: UnsafePointer<ProtobufCMessageDescriptor>, messageName: String, depth: Int
  ) throws(RPCError) {
    guard depth < Self.maxDepth else {
      throw RPCError(code: .invalidArgument, message: "Failed to decode \(messageName): messages nested over \(Self.maxDepth) deep.")
    }
    while self.offset < self.bytes.count {
      guard let tag = self.varint() else { return }
      switch tag & 7 {
      case 0:
        guard self.varint() != nil else { return }
      case 1:
        self.offset += 8
      case 5:
        self.offset += 4
      case 2:
        guard let length = self.varint(), length <= UInt64(self.bytes.count - self.offset) else { return }
        let start = self.offset
        self.offset += Int(length)
        guard tag >> 3 <= UInt64(UInt32.max),
          let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(tag >> 3))
        else { continue }
        let value = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.offset])
        switch field.pointee.type {
        case PROTOBUF_C_TYPE_STRING:
          try Self.checkString(value, field: field, descriptor: descriptor, messageName: messageName)
        case PROTOBUF_C_TYPE_MESSAGE:
          guard let nested = field.pointee.descriptor else { continue }
          var reader = WireReader(bytes: value)
          try reader.checkStrings(
            descriptor: nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self), messageName: messageName,
            depth: depth + 1)
        default:
          continue
        }
      default:
        return
      }
    }
  }

  private static func checkString(
    _ value: UnsafeRawBufferPointer, field: UnsafePointer<ProtobufCFieldDescriptor>,
    descriptor: UnsafePointer<ProtobufCMessageDescriptor>, messageName: String
  ) throws(RPCError) {
    var ascii = true
    for byte in value {
      if byte == 0 {
        throw RPCError(
          code: .invalidArgument,
          message: "Failed to decode \(messageName): \(Self.describe(field, in: descriptor)) contains a NUL character, which this service does not accept.")
      }
      if byte >= 0x80 { ascii = false }
    }
    if !ascii, String(validating: value, as: UTF8.self) == nil {
      throw RPCError(
        code: .internal,
        message: "Failed to decode \(messageName): \(Self.describe(field, in: descriptor)) is not valid UTF-8.")
    }
  }

  /// "field `name` of full.Message".
  private static func describe(
    _ field: UnsafePointer<ProtobufCFieldDescriptor>, in descriptor: UnsafePointer<ProtobufCMessageDescriptor>
  ) -> String {
    let name = field.pointee.name.map { String(cString: $0) } ?? "#\(field.pointee.id)"
    let message = descriptor.pointee.name.map { String(cString: $0) } ?? "?"
    return "string field `\(name)` of \(message)"
  }
}

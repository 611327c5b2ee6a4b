internal import CProtoDescriptor

/// A method's `(suite.v1.access)` option (proto/suite/v1/access.proto): public, or the least
/// role of its caller.
///
/// protobuf-c knows only the fields of `descriptor.proto`, so the extension arrives among the
/// `MethodOptions`' unknown fields; it is decoded here from its bytes (`Access`: field 1 the
/// role as a varint, field 2 `public` as a varint).
enum MethodAccessOption: Equatable {
  case `public`
  case role(String)

  /// The extension's field number in `MethodOptions`.
  static let fieldNumber: UInt32 = 50001
  /// `suite.v1.Role` values by number, as the Swift cases of `Role` in RPCCore.
  static let roles: [UInt64: String] = [1: "viewer", 2: "editor", 3: "admin"]

  /// The Swift expression of the rule, such as `.role(.editor)`.
  var swiftExpression: String {
    switch self {
    case .public: ".public"
    case .role(let role): ".role(.\(role))"
    }
  }

  /// The option in `options`, or `nil` when the method declares none.
  static func read(from options: UnsafeMutablePointer<Google__Protobuf__MethodOptions>?) throws -> MethodAccessOption? {
    guard let options else { return nil }
    let base = options.pointee.base
    guard let fields = base.unknown_fields else { return nil }
    var bytes: [UInt8]?
    for index in 0..<Int(base.n_unknown_fields) where fields[index].tag == Self.fieldNumber {
      let field = fields[index]
      guard field.wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED else {
        throw GeneratorError("(suite.v1.access) is not a message.")
      }
      // protobuf-c keeps a length-prefixed field's bytes with their length varint in front.
      var prefixed = VarintReader(bytes: Array(UnsafeBufferPointer(start: field.data, count: field.len)))
      let length = try prefixed.varint()
      guard Int(length) == prefixed.bytes.count - prefixed.index else {
        throw GeneratorError("(suite.v1.access) holds a truncated field.")
      }
      // Repeated occurrences of a message field merge; the last value of each field wins.
      bytes = (bytes ?? []) + prefixed.bytes[prefixed.index...]
    }
    guard let bytes else { return nil }
    return try Self.decode(bytes)
  }

  /// Decodes a serialized `suite.v1.Access`.
  static func decode(_ bytes: [UInt8]) throws -> MethodAccessOption {
    var role: UInt64 = 0
    var isPublic = false
    var reader = VarintReader(bytes: bytes)
    while !reader.isAtEnd {
      let key = try reader.varint()
      switch (key >> 3, key & 7) {
      case (1, 0): role = try reader.varint()
      case (2, 0): isPublic = try reader.varint() != 0
      case (_, 0): _ = try reader.varint()
      case (_, 2): try reader.skip(Int(try reader.varint()))
      case (_, 1): try reader.skip(8)
      case (_, 5): try reader.skip(4)
      default: throw GeneratorError("(suite.v1.access) holds an unsupported wire type.")
      }
    }
    switch (isPublic, role) {
    case (true, 0): return .public
    case (true, _): throw GeneratorError("(suite.v1.access) sets both `public` and a role; a public method has none.")
    case (false, 0): throw GeneratorError("(suite.v1.access) needs `role` (VIEWER, EDITOR or ADMIN) or `public: true`.")
    case (false, let number):
      guard let name = Self.roles[number] else { throw GeneratorError("(suite.v1.access) names unknown role \(number).") }
      return .role(name)
    }
  }

  private struct VarintReader {
    let bytes: [UInt8]
    var index = 0

    var isAtEnd: Bool { self.index >= self.bytes.count }

    mutating func varint() throws -> UInt64 {
      var value: UInt64 = 0
      var shift: UInt64 = 0
      while self.index < self.bytes.count, shift < 64 {
        let byte = self.bytes[self.index]
        self.index += 1
        value |= UInt64(byte & 0x7F) << shift
        if byte & 0x80 == 0 { return value }
        shift += 7
      }
      throw GeneratorError("(suite.v1.access) holds a truncated varint.")
    }

    mutating func skip(_ count: Int) throws {
      guard count >= 0, self.index + count <= self.bytes.count else {
        throw GeneratorError("(suite.v1.access) holds a truncated field.")
      }
      self.index += count
    }
  }
}

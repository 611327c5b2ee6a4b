/// The Swift representation of a field's values.
enum ValueKind {
  /// A number whose Swift and C types agree (`Int32` and `int32_t`, `Double` and `double`).
  case number(String)
  case bool
  case string
  case bytes
  case enumeration(EnumInfo)
  case message(MessageInfo)
}

/// How a field is stored in the Swift struct.
enum FieldShape {
  /// proto3 implicit presence: a plain value with a default.
  case singular(ValueKind)
  /// A singular message field: present or `nil`.
  case singularMessage(MessageInfo)
  /// A proto3 `optional` field: `nil` when absent. In C it is a one-member oneof (see
  /// ``Proto3OptionalLowering``).
  case optional(ValueKind, oneofName: String)
  case repeated(ValueKind)
  case map(key: ValueKind, value: ValueKind, entry: MessageInfo)
}

/// A member of the Swift struct: a field or a whole oneof.
enum Member {
  case field(FieldInfo, FieldShape)
  case oneof(OneofInfo, [(FieldInfo, ValueKind)])
}

/// Writes the Swift struct for a message and its protobuf-c coding.
struct MessageEmitter {
  let set: DescriptorSet

  // MARK: Model

  func valueKind(_ field: FieldInfo) throws -> ValueKind {
    switch field.type {
    case .int32, .sint32, .sfixed32: return .number("Int32")
    case .int64, .sint64, .sfixed64: return .number("Int64")
    case .uint32, .fixed32: return .number("UInt32")
    case .uint64, .fixed64: return .number("UInt64")
    case .float: return .number("Float")
    case .double: return .number("Double")
    case .bool: return .bool
    case .string: return .string
    case .bytes: return .bytes
    case .enumeration: return .enumeration(try self.set.enumeration(field.typeName))
    case .message: return .message(try self.set.message(field.typeName))
    case .group: throw GeneratorError("Groups are not supported (\(field.name)).")
    }
  }

  func members(of message: MessageInfo) throws -> [Member] {
    var members: [Member] = []
    var emittedOneofs: Set<Int> = []
    for field in message.fields {
      if let index = field.oneofIndex, !message.oneofs[index].isSynthetic {
        guard !emittedOneofs.contains(index) else { continue }
        emittedOneofs.insert(index)
        var cases: [(FieldInfo, ValueKind)] = []
        for member in message.fields where member.oneofIndex == index {
          cases.append((member, try self.valueKind(member)))
        }
        members.append(.oneof(message.oneofs[index], cases))
        continue
      }
      let kind = try self.valueKind(field)
      let shape: FieldShape
      if field.isRepeated {
        if case .message(let entry) = kind, entry.isMapEntry {
          guard let key = entry.fields.first(where: { $0.number == 1 }),
            let value = entry.fields.first(where: { $0.number == 2 })
          else { throw GeneratorError("\(entry.fullName): malformed map entry.") }
          shape = .map(key: try self.valueKind(key), value: try self.valueKind(value), entry: entry)
        } else {
          shape = .repeated(kind)
        }
      } else if field.isProto3Optional, let index = field.oneofIndex {
        shape = .optional(kind, oneofName: message.oneofs[index].name)
      } else if case .message(let type) = kind {
        shape = .singularMessage(type)
      } else {
        shape = .singular(kind)
      }
      members.append(.field(field, shape))
    }
    return members
  }

  /// Whether encoding the message stores anything outside its own struct.
  func needsArena(_ message: MessageInfo) throws -> Bool {
    for field in message.fields {
      if field.isRepeated { return true }
      switch try self.valueKind(field) {
      case .string, .bytes, .message: return true
      case .number, .bool, .enumeration: continue
      }
    }
    return false
  }

  /// Whether `message` can carry a string, in a field of its own or of a nested message (map
  /// entries included): decoding one then checks its strings (`ProtoCoding.checkStrings`).
  func mayCarryStrings(_ message: MessageInfo) throws -> Bool {
    try message.fields.contains { field in
      switch try self.valueKind(field) {
      case .string, .message: true
      case .number, .bool, .bytes, .enumeration: false
      }
    }
  }

  func swiftType(_ kind: ValueKind) -> String {
    switch kind {
    case .number(let type): type
    case .bool: "Bool"
    case .string: "String"
    case .bytes: "[UInt8]"
    case .enumeration(let info): Names.swiftName(of: info)
    case .message(let info): Names.swiftName(of: info)
    }
  }

  func defaultValue(_ kind: ValueKind) -> String {
    switch kind {
    case .number: "0"
    case .bool: "false"
    case .string: "\"\""
    case .bytes: "[]"
    case .enumeration(let info): "." + Names.escaped(Names.caseNames(of: info)[0])
    case .message(let info): Names.swiftName(of: info) + "()"
    }
  }

  /// A Swift expression reading the C value `c`.
  func decode(_ kind: ValueKind, _ c: String) -> String {
    switch kind {
    case .number: c
    case .bool: "\(c) != 0"
    case .string: "ProtoCoding.string(\(c))"
    case .bytes: "ProtoCoding.bytes(\(c).data, count: \(c).len)"
    case .enumeration(let info):
      "\(Names.swiftName(of: info))(rawValue: Int32(truncatingIfNeeded: \(c).rawValue))"
    case .message(let info):
      "\(c).map { \(Names.swiftName(of: info))(copying: $0) } ?? \(Names.swiftName(of: info))()"
    }
  }

  /// A C expression holding the Swift value `value` (memory from `arena`).
  func encode(_ kind: ValueKind, _ value: String) -> String {
    switch kind {
    case .number: value
    case .bool: "\(value) ? 1 : 0"
    case .string: "arena.cString(\(value))"
    case .bytes: "ProtobufCBinaryData(len: \(value).count, data: arena.bytes(\(value)))"
    case .enumeration: ".init(rawValue: .init(truncatingIfNeeded: \(value).rawValue))"
    case .message: "\(value).cMessage(in: arena)"
    }
  }

  /// The C type of one element of a repeated field.
  func cElementType(_ kind: ValueKind) -> String {
    switch kind {
    case .number(let type): type
    case .bool: "protobuf_c_boolean"
    case .string: "UnsafeMutablePointer<CChar>?"
    case .bytes: "ProtobufCBinaryData"
    case .enumeration(let info): Names.cTypeName(of: info)
    case .message(let info): "UnsafeMutablePointer<\(Names.cTypeName(of: info))>?"
    }
  }

  /// Messages that contain themselves through singular fields cannot be Swift structs.
  func checkNotRecursive(_ message: MessageInfo) throws {
    var visiting: [String] = []
    func visit(_ current: MessageInfo) throws {
      if visiting.contains(current.fullName) {
        throw GeneratorError(
          "\(message.fullName) contains itself through singular fields (\((visiting + [current.fullName]).joined(separator: " -> "))); recursive messages are not supported."
        )
      }
      visiting.append(current.fullName)
      defer { visiting.removeLast() }
      for field in current.fields where !field.isRepeated && field.type == .message {
        try visit(try self.set.message(field.typeName))
      }
    }
    try visit(message)
  }

  // MARK: Declaration

  func emitDeclaration(_ message: MessageInfo, into w: inout CodeWriter) throws {
    try self.checkNotRecursive(message)
    let swiftName = Names.swiftName(of: message)
    let members = try self.members(of: message)
    let nestedNames = Set(message.nestedMessages.map(\.name) + message.nestedEnums.map(\.name))

    w.doc(message.comment, fallback: "The `\(message.fullName)` message.")
    try w.block(
      "public struct \(Names.localName(swiftName)): RPCMessage, Equatable, Sendable"
    ) { w in
      for member in members {
        switch member {
        case .field(let field, let shape):
          w.doc(field.comment)
          let name = Names.escaped(Names.lowerCamel(field.name))
          switch shape {
          case .singular(let kind):
            w.line("public var \(name): \(self.swiftType(kind)) = \(self.defaultValue(kind))")
          case .singularMessage(let type):
            w.line("public var \(name): \(Names.swiftName(of: type))?")
          case .optional(let kind, _):
            w.line("public var \(name): \(self.swiftType(kind))?")
          case .repeated(let kind):
            w.line("public var \(name): [\(self.swiftType(kind))] = []")
          case .map(let key, let value, _):
            w.line("public var \(name): [\(self.swiftType(key)): \(self.swiftType(value))] = [:]")
          }
        case .oneof(let oneof, _):
          w.doc(oneof.comment, fallback: "The `\(oneof.name)` oneof; `nil` when no member is set.")
          let typeName = self.oneofTypeName(oneof, nestedNames: nestedNames)
          w.line("public var \(Names.escaped(Names.lowerCamel(oneof.name))): \(swiftName).\(typeName)?")
        }
      }
      if !members.isEmpty { w.line() }
      w.line("/// A message with every field at its default value.")
      w.line("public init() {}")

      for member in members {
        guard case .oneof(let oneof, let cases) = member else { continue }
        w.line()
        w.doc(oneof.comment, fallback: "The members of the `\(oneof.name)` oneof.")
        w.block(
          "public enum \(self.oneofTypeName(oneof, nestedNames: nestedNames)): Equatable, Sendable"
        ) { w in
          for (field, kind) in cases {
            w.doc(field.comment)
            w.line("case \(Names.escaped(Names.lowerCamel(field.name)))(\(self.swiftType(kind)))")
          }
        }
      }
      for nested in message.nestedEnums {
        w.line()
        EnumEmitter().emit(nested, into: &w)
      }
      for nested in message.nestedMessages where !nested.isMapEntry {
        w.line()
        try self.emitDeclaration(nested, into: &w)
      }
    }
  }

  func oneofTypeName(_ oneof: OneofInfo, nestedNames: Set<String>) -> String {
    let name = Names.upperCamel(oneof.name)
    return nestedNames.contains(name) || Names.reservedTypeNames.contains(name) ? name + "Oneof" : name
  }

  // MARK: Coding

  func emitCoding(_ message: MessageInfo, into w: inout CodeWriter) throws {
    let swiftName = Names.swiftName(of: message)
    let cType = Names.cTypeName(of: message)
    let prefix = Names.cFunctionPrefix(of: message)
    let members = try self.members(of: message)
    let needsArena = try self.needsArena(message)
    // RPCError(code: .internal, message: "Failed to decode <full.name>: invalid protobuf.")
    let decodeFailure = "throw ProtoCoding.decodingError(\(message.fullName.swiftLiteral))"
    let nestedNames = Set(message.nestedMessages.map(\.name) + message.nestedEnums.map(\.name))
    let checksStrings = try self.mayCarryStrings(message)

    w.line()
    try w.block("extension \(swiftName)") { w in
      // Decoding.
      w.line("/// Decodes the message with protobuf-c.")
      w.line("///")
      w.line("/// - Throws: `RPCError` with code `internal` when `bytes` is not a valid encoding (invalid")
      w.line("///   UTF-8 in a string included), `invalidArgument` for a string with a NUL character.")
      w.block("public init(serializedBytes bytes: UnsafeRawBufferPointer) throws") { w in
        if message.isTopLevel {
          w.block(
            "guard let message = \(prefix)__unpack(nil, bytes.count, ProtoCoding.data(bytes)) else"
          ) { w in w.line(decodeFailure) }
          w.line("defer { \(prefix)__free_unpacked(message, nil) }")
          if checksStrings {
            w.line(
              "try ProtoCoding.checkStrings(bytes, descriptor: UnsafeRawPointer(message.pointee.base.descriptor), messageName: \(message.fullName.swiftLiteral))"
            )
          }
          w.line("self.init(copying: message)")
        } else {
          // protoc-c emits __unpack only for top-level messages; nested ones use the generic
          // decoder with the descriptor their __init stores.
          w.line("var prototype = \(cType)()")
          w.line("\(prefix)__init(&prototype)")
          w.block(
            "guard let message = ProtoCoding.unpack(descriptor: UnsafeRawPointer(prototype.base.descriptor), bytes: bytes) else"
          ) { w in w.line(decodeFailure) }
          w.line("defer { ProtoCoding.freeUnpacked(message) }")
          if checksStrings {
            w.line(
              "try ProtoCoding.checkStrings(bytes, descriptor: UnsafeRawPointer(prototype.base.descriptor), messageName: \(message.fullName.swiftLiteral))"
            )
          }
          w.line("self.init(copying: message.assumingMemoryBound(to: \(cType).self))")
        }
      }

      // Encoding.
      w.line()
      w.line("/// Encodes the message with protobuf-c and passes the encoding to `body`.")
      w.block(
        "public func withSerializedBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result"
      ) { w in
        w.line("var message = \(cType)()")
        if needsArena {
          w.line("let arena = ProtoArena()")
          w.line("self.fill(&message, arena: arena)")
          w.block("return try withExtendedLifetime(arena)") { w in
            self.emitPack(message, prefix: prefix, into: &w)
          }
        } else {
          w.line("self.fill(&message)")
          w.line("return try ProtoCoding.withPackedBytes(message: &message, body)")
        }
      }

      // C → Swift.
      w.line()
      w.line("/// Copies every field out of a protobuf-c struct.")
      try w.block("package init(copying message: UnsafePointer<\(cType)>)") { w in
        w.line("self.init()")
        if !members.isEmpty { w.line("let c = message.pointee") }
        for member in members {
          try self.emitDecode(member, message: message, nestedNames: nestedNames, into: &w)
        }
      }

      // Swift → C.
      w.line()
      w.line("/// Initialises `c` and fills it with this message's fields; pointers refer to `arena`.")
      let fillSignature =
        needsArena
        ? "package func fill(_ c: inout \(cType), arena: ProtoArena)"
        : "package func fill(_ c: inout \(cType))"
      try w.block(fillSignature) { w in
        w.line("\(prefix)__init(&c)")
        for member in members {
          try self.emitEncode(member, swiftName: swiftName, nestedNames: nestedNames, into: &w)
        }
      }

      w.line()
      w.line("/// A protobuf-c struct for this message, allocated in `arena`.")
      w.block("package func cMessage(in arena: ProtoArena) -> UnsafeMutablePointer<\(cType)>") { w in
        w.line("let message = arena.allocate(\(cType).self)")
        w.line(needsArena ? "self.fill(&message.pointee, arena: arena)" : "self.fill(&message.pointee)")
        w.line("return message")
      }
    }

    for nested in message.nestedMessages where !nested.isMapEntry {
      try self.emitCoding(nested, into: &w)
    }
  }

  private func emitPack(_ message: MessageInfo, prefix: String, into w: inout CodeWriter) {
    if message.isTopLevel {
      w.line("let size = \(prefix)__get_packed_size(&message)")
      w.line(
        "return try ProtoCoding.withPackedBytes(size: size, pack: { \(prefix)__pack(&message, $0) }, body)"
      )
    } else {
      w.line("return try ProtoCoding.withPackedBytes(message: &message, body)")
    }
  }

  private func emitDecode(
    _ member: Member, message: MessageInfo, nestedNames: Set<String>, into w: inout CodeWriter
  ) throws {
    switch member {
    case .field(let field, let shape):
      let name = "self." + Names.escaped(Names.lowerCamel(field.name))
      let c = "c." + Names.cMember(field.name)
      switch shape {
      case .singular(let kind):
        w.line("\(name) = \(self.decode(kind, c))")
      case .singularMessage(let type):
        w.line("if let value = \(c) { \(name) = \(Names.swiftName(of: type))(copying: value) }")
      case .optional(let kind, let oneofName):
        let condition = "c.\(Names.cOneofCase(oneofName)).rawValue == \(field.number)"
        if case .message(let type) = kind {
          w.line("if \(condition), let value = \(c) { \(name) = \(Names.swiftName(of: type))(copying: value) }")
        } else {
          w.line("if \(condition) { \(name) = \(self.decode(kind, c)) }")
        }
      case .repeated(let kind):
        let count = "c.n_" + Names.cMember(field.name).filter { $0 != "`" }
        switch kind {
        case .number:
          w.line("\(name) = ProtoCoding.array(\(c), count: \(count))")
        case .bool:
          w.line("\(name) = ProtoCoding.bools(\(c), count: \(count))")
        case .string, .bytes, .enumeration, .message:
          w.block("if \(count) > 0, let values = \(c)") { w in
            w.line("\(name).reserveCapacity(\(count))")
            w.block("for index in 0..<\(count)") { w in
              w.line("\(name).append(\(self.decode(kind, "values[index]")))")
            }
          }
        }
      case .map(let key, let value, _):
        let count = "c.n_" + Names.cMember(field.name).filter { $0 != "`" }
        w.block("if \(count) > 0, let entries = \(c)") { w in
          w.line("\(name).reserveCapacity(\(count))")
          w.block("for index in 0..<\(count)") { w in
            w.line("guard let entry = entries[index]?.pointee else { continue }")
            w.line("\(name)[\(self.decode(key, "entry.key"))] = \(self.decode(value, "entry.value"))")
          }
        }
      }
    case .oneof(let oneof, let cases):
      let name = "self." + Names.escaped(Names.lowerCamel(oneof.name))
      w.switchBlock("switch c.\(Names.cOneofCase(oneof.name)).rawValue") { w in
        for (field, kind) in cases {
          w.line("case \(field.number):")
          w.line(
            "  \(name) = .\(Names.escaped(Names.lowerCamel(field.name)))(\(self.decode(kind, "c." + Names.cMember(field.name))))"
          )
        }
        w.line("default:")
        w.line("  break")
      }
    }
  }

  private func emitEncode(
    _ member: Member, swiftName: String, nestedNames: Set<String>, into w: inout CodeWriter
  ) throws {
    switch member {
    case .field(let field, let shape):
      let name = "self." + Names.escaped(Names.lowerCamel(field.name))
      let c = "c." + Names.cMember(field.name)
      switch shape {
      case .singular(let kind):
        switch kind {
        case .string, .bytes:
          w.line("if !\(name).isEmpty { \(c) = \(self.encode(kind, name)) }")
        default:
          w.line("\(c) = \(self.encode(kind, name))")
        }
      case .singularMessage:
        w.line("if let value = \(name) { \(c) = value.cMessage(in: arena) }")
      case .optional(let kind, let oneofName):
        w.block("if let value = \(name)") { w in
          w.line("c.\(Names.cOneofCase(oneofName)) = .init(rawValue: \(field.number))")
          w.line("\(c) = \(self.encode(kind, "value"))")
        }
      case .repeated(let kind):
        let count = "c.n_" + Names.cMember(field.name).filter { $0 != "`" }
        w.block("if !\(name).isEmpty") { w in
          w.line("\(count) = \(name).count")
          switch kind {
          case .number:
            w.line("\(c) = arena.copy(\(name))")
          case .bool:
            w.line("\(c) = ProtoCoding.bools(\(name), in: arena)")
          case .string, .bytes, .enumeration, .message:
            w.line("let values = arena.allocate(\(self.cElementType(kind)).self, count: \(name).count)")
            w.block("for (index, value) in \(name).enumerated()") { w in
              w.line("values[index] = \(self.encode(kind, "value"))")
            }
            w.line("\(c) = values")
          }
        }
      case .map(let key, let value, let entry):
        let count = "c.n_" + Names.cMember(field.name).filter { $0 != "`" }
        let entryType = Names.cTypeName(of: entry)
        let sortedKeys =
          if case .bool = key { "\(name).keys.sorted(by: { !$0 && $1 })" } else { "\(name).keys.sorted()" }
        w.block("if !\(name).isEmpty") { w in
          w.line("// Entries go out sorted by key so that equal maps encode to equal bytes.")
          w.line("let entries = arena.allocate(UnsafeMutablePointer<\(entryType)>?.self, count: \(name).count)")
          w.block("for (index, key) in \(sortedKeys).enumerated()") { w in
            w.line("let entry = arena.allocate(\(entryType).self)")
            w.line("\(Names.cFunctionPrefix(of: entry))__init(entry)")
            w.line("entry.pointee.key = \(self.encode(key, "key"))")
            w.line("entry.pointee.value = \(self.encode(value, "\(name)[key]!"))")
            w.line("entries[index] = entry")
          }
          w.line("\(count) = \(name).count")
          w.line("\(c) = entries")
        }
      }
    case .oneof(let oneof, let cases):
      let name = "self." + Names.escaped(Names.lowerCamel(oneof.name))
      w.switchBlock("switch \(name)") { w in
        for (field, kind) in cases {
          w.line("case .\(Names.escaped(Names.lowerCamel(field.name)))(let value)?:")
          w.line("  c.\(Names.cOneofCase(oneof.name)) = .init(rawValue: \(field.number))")
          w.line("  c.\(Names.cMember(field.name)) = \(self.encode(kind, "value"))")
        }
        w.line("case nil:")
        w.line("  break")
      }
    }
  }
}

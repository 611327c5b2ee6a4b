internal import CProtoDescriptor
internal import CProtobufC

/// A generation failure, reported as one line on stderr.
struct GeneratorError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The scalar and composite field types of `FieldDescriptorProto.Type`.
enum FieldType: Int32 {
  case double = 1, float = 2, int64 = 3, uint64 = 4, int32 = 5, fixed64 = 6, fixed32 = 7
  case bool = 8, string = 9, group = 10, message = 11, bytes = 12, uint32 = 13, enumeration = 14
  case sfixed32 = 15, sfixed64 = 16, sint32 = 17, sint64 = 18
}

/// One field of a message, as the descriptor states it.
struct FieldInfo {
  var name: String
  var number: Int32
  var type: FieldType
  var isRepeated: Bool
  /// The fully qualified type name with a leading dot, for message and enum fields.
  var typeName: String
  /// The index into the message's oneofs (real or synthetic).
  var oneofIndex: Int?
  var isProto3Optional: Bool
  var comment: String
}

/// A oneof of a message; `isSynthetic` for the single-field oneof of a proto3 `optional`.
struct OneofInfo {
  var name: String
  var isSynthetic: Bool
  var comment: String
}

/// One value of an enum.
struct EnumValueInfo {
  var name: String
  var number: Int32
  var comment: String
}

/// An enum, top-level or nested.
final class EnumInfo {
  let fullName: String
  let name: String
  let values: [EnumValueInfo]
  let comment: String
  /// The names of the enclosing messages, outermost first.
  let parents: [String]
  let file: FileInfo

  init(
    fullName: String, name: String, values: [EnumValueInfo], comment: String, parents: [String],
    file: FileInfo
  ) {
    self.fullName = fullName
    self.name = name
    self.values = values
    self.comment = comment
    self.parents = parents
    self.file = file
  }
}

/// A message, top-level or nested.
final class MessageInfo {
  let fullName: String
  let name: String
  let fields: [FieldInfo]
  let oneofs: [OneofInfo]
  let isMapEntry: Bool
  let comment: String
  /// The names of the enclosing messages, outermost first.
  let parents: [String]
  let file: FileInfo
  var nestedMessages: [MessageInfo] = []
  var nestedEnums: [EnumInfo] = []

  init(
    fullName: String, name: String, fields: [FieldInfo], oneofs: [OneofInfo], isMapEntry: Bool,
    comment: String, parents: [String], file: FileInfo
  ) {
    self.fullName = fullName
    self.name = name
    self.fields = fields
    self.oneofs = oneofs
    self.isMapEntry = isMapEntry
    self.comment = comment
    self.parents = parents
    self.file = file
  }

  var isTopLevel: Bool { self.parents.isEmpty }
}

/// One rpc of a service.
struct MethodInfo {
  var name: String
  var inputType: String
  var outputType: String
  var clientStreaming: Bool
  var serverStreaming: Bool
  var comment: String
  /// The method's `(suite.v1.access)` option; `nil` when it declares none.
  var access: MethodAccessOption?
}

/// A service.
struct ServiceInfo {
  var name: String
  var fullName: String
  var methods: [MethodInfo]
  var comment: String
}

/// One `.proto` file of the descriptor set.
final class FileInfo {
  let name: String
  let package: String
  let syntax: String
  let dependencies: [String]
  var messages: [MessageInfo] = []
  var enums: [EnumInfo] = []
  var services: [ServiceInfo] = []
  /// The `FileDescriptorProto` re-serialized by protobuf-c without source info.
  var serializedDescriptor: [UInt8] = []

  /// Whether the file only declares options (it imports `descriptor.proto`, like
  /// `suite/v1/access.proto`) or is `descriptor.proto` itself: no C or Swift code is generated
  /// for it; its descriptor is still embedded, for reflection of the files that import it.
  var isAnnotationOnly: Bool {
    Self.isAnnotationOnly(name: self.name, package: self.package, dependencies: self.dependencies)
  }

  static func isAnnotationOnly(name: String, package: String, dependencies: [String]) -> Bool {
    package == "google.protobuf" || dependencies.contains("google/protobuf/descriptor.proto")
  }

  /// Whether every method of the file's services must declare `(suite.v1.access)`: every
  /// package but the standard `grpc.*` ones (health and reflection are public by definition,
  /// the interop test services need no authentication).
  var requiresAccessOption: Bool { !self.package.hasPrefix("grpc.") }

  init(name: String, package: String, syntax: String, dependencies: [String]) {
    self.name = name
    self.package = package
    self.syntax = syntax
    self.dependencies = dependencies
  }
}

/// Every file of a descriptor set and an index of its types by fully qualified name.
struct DescriptorSet {
  var files: [FileInfo]
  /// Messages by fully qualified name with a leading dot (`.grpc.testing.Payload`).
  var messages: [String: MessageInfo]
  /// Enums by fully qualified name with a leading dot.
  var enums: [String: EnumInfo]

  func message(_ typeName: String) throws -> MessageInfo {
    guard let message = self.messages[typeName] else {
      throw GeneratorError("Unknown message type \(typeName).")
    }
    return message
  }

  func enumeration(_ typeName: String) throws -> EnumInfo {
    guard let enumeration = self.enums[typeName] else {
      throw GeneratorError("Unknown enum type \(typeName).")
    }
    return enumeration
  }
}

// MARK: - Loading with protobuf-c

/// Decodes a serialized `FileDescriptorSet` with protobuf-c into the Swift model.
enum DescriptorSetLoader {
  static func load(_ bytes: [UInt8]) throws -> DescriptorSet {
    let decoded = bytes.withUnsafeBufferPointer { buffer in
      google__protobuf__file_descriptor_set__unpack(nil, buffer.count, buffer.baseAddress)
    }
    guard let set = decoded else {
      throw GeneratorError("The input is not a valid FileDescriptorSet.")
    }
    defer { google__protobuf__file_descriptor_set__free_unpacked(set, nil) }

    var result = DescriptorSet(files: [], messages: [:], enums: [:])
    for filePointer in Self.list(set.pointee.file, set.pointee.n_file) {
      let file = try Self.loadFile(filePointer, into: &result)
      result.files.append(file)
    }
    return result
  }

  private static func loadFile(
    _ pointer: UnsafeMutablePointer<Google__Protobuf__FileDescriptorProto>,
    into set: inout DescriptorSet
  ) throws -> FileInfo {
    let proto = pointer.pointee
    let syntax = Self.string(proto.syntax)
    let file = FileInfo(
      name: Self.string(proto.name),
      package: Self.string(proto.package),
      syntax: syntax.isEmpty ? "proto2" : syntax,
      dependencies: Self.strings(proto.dependency, proto.n_dependency))
    if file.isAnnotationOnly {
      file.serializedDescriptor = Self.serializeWithoutSourceInfo(pointer)
      return file
    }
    let comments = Self.comments(proto.source_code_info)
    let scope = file.package.isEmpty ? "" : "." + file.package

    for (index, message) in Self.list(proto.message_type, proto.n_message_type).enumerated() {
      file.messages.append(
        try Self.loadMessage(
          message, scope: scope, parents: [], path: [4, Int32(index)], comments: comments,
          file: file, into: &set))
    }
    for (index, enumeration) in Self.list(proto.enum_type, proto.n_enum_type).enumerated() {
      file.enums.append(
        Self.loadEnum(
          enumeration, scope: scope, parents: [], path: [5, Int32(index)], comments: comments,
          file: file, into: &set))
    }
    for (index, service) in Self.list(proto.service, proto.n_service).enumerated() {
      file.services.append(
        try Self.loadService(service, scope: scope, path: [6, Int32(index)], comments: comments))
    }
    if proto.n_extension > 0 {
      throw GeneratorError("\(file.name): extensions are not supported.")
    }
    file.serializedDescriptor = Self.serializeWithoutSourceInfo(pointer)
    return file
  }

  private static func loadMessage(
    _ pointer: UnsafeMutablePointer<Google__Protobuf__DescriptorProto>,
    scope: String, parents: [String], path: [Int32], comments: [[Int32]: String],
    file: FileInfo, into set: inout DescriptorSet
  ) throws -> MessageInfo {
    let proto = pointer.pointee
    let name = Self.string(proto.name)
    let fullName = scope + "." + name

    var oneofs: [OneofInfo] = []
    for (index, oneof) in Self.list(proto.oneof_decl, proto.n_oneof_decl).enumerated() {
      oneofs.append(
        OneofInfo(
          name: Self.string(oneof.pointee.name), isSynthetic: false,
          comment: comments[path + [8, Int32(index)]] ?? ""))
    }
    var fields: [FieldInfo] = []
    for (index, field) in Self.list(proto.field, proto.n_field).enumerated() {
      let f = field.pointee
      guard let type = FieldType(rawValue: Int32(truncatingIfNeeded: f.type.rawValue)) else {
        throw GeneratorError("\(fullName): unknown field type \(f.type.rawValue).")
      }
      if type == .group {
        throw GeneratorError("\(fullName): groups are not supported.")
      }
      let isProto3Optional = f.has_proto3_optional != 0 && f.proto3_optional != 0
      let oneofIndex = f.has_oneof_index != 0 ? Int(f.oneof_index) : nil
      if isProto3Optional, let oneofIndex {
        oneofs[oneofIndex].isSynthetic = true
      }
      fields.append(
        FieldInfo(
          name: Self.string(f.name),
          number: f.number,
          type: type,
          isRepeated: f.label.rawValue == 3,
          typeName: Self.string(f.type_name),
          oneofIndex: oneofIndex,
          isProto3Optional: isProto3Optional,
          comment: comments[path + [2, Int32(index)]] ?? ""))
    }
    let isMapEntry = proto.options.map { $0.pointee.has_map_entry != 0 && $0.pointee.map_entry != 0 } ?? false
    let message = MessageInfo(
      fullName: String(fullName.dropFirst()), name: name, fields: fields, oneofs: oneofs,
      isMapEntry: isMapEntry, comment: comments[path] ?? "", parents: parents, file: file)
    set.messages[fullName] = message

    for (index, nested) in Self.list(proto.nested_type, proto.n_nested_type).enumerated() {
      message.nestedMessages.append(
        try Self.loadMessage(
          nested, scope: fullName, parents: parents + [name], path: path + [3, Int32(index)],
          comments: comments, file: file, into: &set))
    }
    for (index, nested) in Self.list(proto.enum_type, proto.n_enum_type).enumerated() {
      message.nestedEnums.append(
        Self.loadEnum(
          nested, scope: fullName, parents: parents + [name], path: path + [4, Int32(index)],
          comments: comments, file: file, into: &set))
    }
    if proto.n_extension > 0 {
      throw GeneratorError("\(message.fullName): extensions are not supported.")
    }
    return message
  }

  private static func loadEnum(
    _ pointer: UnsafeMutablePointer<Google__Protobuf__EnumDescriptorProto>,
    scope: String, parents: [String], path: [Int32], comments: [[Int32]: String],
    file: FileInfo, into set: inout DescriptorSet
  ) -> EnumInfo {
    let proto = pointer.pointee
    let name = Self.string(proto.name)
    let fullName = scope + "." + name
    var values: [EnumValueInfo] = []
    for (index, value) in Self.list(proto.value, proto.n_value).enumerated() {
      values.append(
        EnumValueInfo(
          name: Self.string(value.pointee.name), number: value.pointee.number,
          comment: comments[path + [2, Int32(index)]] ?? ""))
    }
    let info = EnumInfo(
      fullName: String(fullName.dropFirst()), name: name, values: values,
      comment: comments[path] ?? "", parents: parents, file: file)
    set.enums[fullName] = info
    return info
  }

  private static func loadService(
    _ pointer: UnsafeMutablePointer<Google__Protobuf__ServiceDescriptorProto>,
    scope: String, path: [Int32], comments: [[Int32]: String]
  ) throws -> ServiceInfo {
    let proto = pointer.pointee
    let name = Self.string(proto.name)
    var methods: [MethodInfo] = []
    for (index, method) in Self.list(proto.method, proto.n_method).enumerated() {
      let m = method.pointee
      methods.append(
        MethodInfo(
          name: Self.string(m.name),
          inputType: Self.string(m.input_type),
          outputType: Self.string(m.output_type),
          clientStreaming: m.has_client_streaming != 0 && m.client_streaming != 0,
          serverStreaming: m.has_server_streaming != 0 && m.server_streaming != 0,
          comment: comments[path + [2, Int32(index)]] ?? "",
          access: try Self.access(of: m, in: String((scope + "." + name).dropFirst()))))
    }
    return ServiceInfo(
      name: name, fullName: String((scope + "." + name).dropFirst()), methods: methods,
      comment: comments[path] ?? "")
  }

  private static func access(of method: Google__Protobuf__MethodDescriptorProto, in service: String) throws
    -> MethodAccessOption?
  {
    do {
      return try MethodAccessOption.read(from: method.options)
    } catch let error as GeneratorError {
      throw GeneratorError("\(service).\(Self.string(method.name)): \(error.description)")
    }
  }

  /// Leading comments (or trailing ones where there is no leading comment) by source path.
  private static func comments(
    _ info: UnsafeMutablePointer<Google__Protobuf__SourceCodeInfo>?
  ) -> [[Int32]: String] {
    guard let info else { return [:] }
    var result: [[Int32]: String] = [:]
    for location in Self.list(info.pointee.location, info.pointee.n_location) {
      let l = location.pointee
      let path = Array(UnsafeBufferPointer(start: l.path, count: l.n_path))
      var text = Self.string(l.leading_comments)
      if text.isEmpty { text = Self.string(l.trailing_comments) }
      if !text.isEmpty, result[path] == nil { result[path] = text }
    }
    return result
  }

  /// The file's descriptor packed by protobuf-c, without `source_code_info` (which only
  /// development tools need).
  private static func serializeWithoutSourceInfo(
    _ pointer: UnsafeMutablePointer<Google__Protobuf__FileDescriptorProto>
  ) -> [UInt8] {
    let sourceInfo = pointer.pointee.source_code_info
    pointer.pointee.source_code_info = nil
    defer { pointer.pointee.source_code_info = sourceInfo }
    let size = google__protobuf__file_descriptor_proto__get_packed_size(pointer)
    var bytes = [UInt8](repeating: 0, count: size)
    let written = bytes.withUnsafeMutableBufferPointer { buffer in
      google__protobuf__file_descriptor_proto__pack(pointer, buffer.baseAddress)
    }
    precondition(written == size)
    return bytes
  }

  // MARK: C helpers

  static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
  }

  static func strings(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int)
    -> [String]
  {
    guard let pointer else { return [] }
    return (0..<count).map { Self.string(pointer[$0]) }
  }

  static func list<T>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int)
    -> [UnsafeMutablePointer<T>]
  {
    guard let pointer else { return [] }
    return (0..<count).compactMap { pointer[$0] }
  }
}

// MARK: - Lowering proto3 optional for protoc-c 1.4

/// Rewrites a descriptor set so that protoc-c 1.4, which predates proto3 `optional`, accepts
/// it: every proto3 optional field loses its `proto3_optional` flag, which turns its synthetic
/// oneof into an ordinary one-field oneof. The wire format is unchanged (a set oneof member is
/// always encoded, like a present optional), and the generated Swift reads and writes presence
/// through that oneof's `_case` field.
enum Proto3OptionalLowering {
  static func lower(_ bytes: [UInt8]) throws -> [UInt8] {
    let decoded = bytes.withUnsafeBufferPointer { buffer in
      google__protobuf__file_descriptor_set__unpack(nil, buffer.count, buffer.baseAddress)
    }
    guard let set = decoded else {
      throw GeneratorError("The input is not a valid FileDescriptorSet.")
    }
    defer { google__protobuf__file_descriptor_set__free_unpacked(set, nil) }
    for file in DescriptorSetLoader.list(set.pointee.file, set.pointee.n_file) {
      for message in DescriptorSetLoader.list(file.pointee.message_type, file.pointee.n_message_type) {
        Self.lower(message)
      }
    }
    // Annotation-only files (options such as `suite.v1.access`, and descriptor.proto itself)
    // have no C code: leave them out, and out of the imports of the others. The options' values
    // stay in the method options as unknown fields, which protoc-c ignores. The arrays are
    // compacted in place and restored before they are freed.
    var restore: [() -> Void] = []
    defer { for undo in restore { undo() } }
    let annotationFiles = Set(
      DescriptorSetLoader.list(set.pointee.file, set.pointee.n_file).map { $0.pointee }.filter {
        FileInfo.isAnnotationOnly(
          name: DescriptorSetLoader.string($0.name), package: DescriptorSetLoader.string($0.package),
          dependencies: DescriptorSetLoader.strings($0.dependency, $0.n_dependency))
      }.map { DescriptorSetLoader.string($0.name) })
    if let files = set.pointee.file {
      let kept = Self.compact(files, count: set.pointee.n_file, setCount: { set.pointee.n_file = $0 }, restore: &restore) {
        !annotationFiles.contains(DescriptorSetLoader.string($0?.pointee.name))
      }
      for file in kept.compactMap({ $0 }) {
        guard let dependencies = file.pointee.dependency else { continue }
        _ = Self.compact(
          dependencies, count: file.pointee.n_dependency, setCount: { file.pointee.n_dependency = $0 }, restore: &restore
        ) {
          !annotationFiles.contains(DescriptorSetLoader.string($0))
        }
      }
    }
    let size = google__protobuf__file_descriptor_set__get_packed_size(set)
    var output = [UInt8](repeating: 0, count: size)
    _ = output.withUnsafeMutableBufferPointer { buffer in
      google__protobuf__file_descriptor_set__pack(set, buffer.baseAddress)
    }
    return output
  }

  /// Moves the elements of `array` that satisfy `keep` to its front and sets `count` to their
  /// number (through `setCount`); `restore` gets the closure that puts both back.
  private static func compact<Element>(
    _ array: UnsafeMutablePointer<Element>, count: Int, setCount: @escaping (Int) -> Void,
    restore: inout [() -> Void], keep: (Element) -> Bool
  ) -> [Element] {
    let original = Array(UnsafeBufferPointer(start: array, count: count))
    let kept = original.filter(keep)
    for (index, element) in kept.enumerated() { array[index] = element }
    setCount(kept.count)
    restore.append {
      for (index, element) in original.enumerated() { array[index] = element }
      setCount(original.count)
    }
    return kept
  }

  private static func lower(_ message: UnsafeMutablePointer<Google__Protobuf__DescriptorProto>) {
    for field in DescriptorSetLoader.list(message.pointee.field, message.pointee.n_field) {
      field.pointee.has_proto3_optional = 0
      field.pointee.proto3_optional = 0
    }
    for nested in DescriptorSetLoader.list(message.pointee.nested_type, message.pointee.n_nested_type) {
      Self.lower(nested)
    }
  }
}

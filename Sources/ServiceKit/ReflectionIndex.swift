import ProtoRuntime

/// What server reflection knows: every proto file the binary carries (serialized
/// `FileDescriptorProto`s, see the generated `<Stem>ProtoFiles`) indexed by file name and by the fully
/// qualified symbols they declare, plus the services the server exposes.
struct ReflectionIndex: Sendable {
  /// A reflection query, independent of the `v1` / `v1alpha` message types.
  enum Query: Sendable {
    case fileByFilename(String)
    case fileContainingSymbol(String)
    case fileContainingExtension(type: String, number: Int32)
    case allExtensionNumbersOfType(String)
    case listServices
    case missing
  }

  /// The answer to one query.
  enum Answer: Sendable, Equatable {
    /// Serialized `FileDescriptorProto`s: the file asked for first, then its dependencies.
    case files([[UInt8]])
    case extensionNumbers(type: String, numbers: [Int32])
    case services([String])
    case error(code: Int32, message: String)
  }

  private var files: [String: (serialized: [UInt8], dependencies: [String])] = [:]
  private var fileBySymbol: [String: String] = [:]
  private var messageTypes: Set<String> = []
  let serviceNames: [String]

  init(files: [(name: String, serialized: [UInt8])], serviceNames: [String]) {
    self.serviceNames = serviceNames.sorted()
    for file in files {
      let parsed = ParsedFile(file.serialized)
      self.files[file.name] = (file.serialized, parsed.dependencies)
      for symbol in parsed.symbols { self.fileBySymbol[symbol] = file.name }
      self.messageTypes.formUnion(parsed.messageTypes)
    }
  }

  func answer(_ query: Query) -> Answer {
    switch query {
    case .listServices:
      return .services(self.serviceNames)
    case .fileByFilename(let name):
      guard self.files[name] != nil else { return Self.notFound("File not found: \(name)") }
      return .files(self.withDependencies(name))
    case .fileContainingSymbol(let symbol):
      let symbol = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
      guard let name = self.fileBySymbol[symbol] else {
        return Self.notFound("Symbol not found: \(symbol)")
      }
      return .files(self.withDependencies(name))
    case .fileContainingExtension(let type, let number):
      return Self.notFound("Extension not found: \(type) \(number) (proto3 files declare none).")
    case .allExtensionNumbersOfType(let type):
      guard self.messageTypes.contains(type) else { return Self.notFound("Type not found: \(type)") }
      return .extensionNumbers(type: type, numbers: [])
    case .missing:
      return .error(code: 3, message: "The request names no query.")
    }
  }

  private static func notFound(_ message: String) -> Answer {
    .error(code: 5, message: message)
  }

  /// The file and everything it imports, transitively, each once, the file first.
  private func withDependencies(_ name: String) -> [[UInt8]] {
    var seen: Set<String> = []
    var order: [String] = []
    var pending = [name]
    while let next = pending.popLast() {
      guard seen.insert(next).inserted, let file = self.files[next] else { continue }
      order.append(next)
      pending.append(contentsOf: file.dependencies.reversed())
    }
    return order.compactMap { self.files[$0]?.serialized }
  }
}

/// The parts of a `FileDescriptorProto` reflection needs, read straight from its protobuf
/// encoding: package (2), dependencies (3), messages (4), enums (5) and services (6).
private struct ParsedFile {
  var dependencies: [String] = []
  var symbols: [String] = []
  var messageTypes: [String] = []

  init(_ bytes: [UInt8]) {
    var package = ""
    var messages: [ArraySlice<UInt8>] = []
    var enums: [ArraySlice<UInt8>] = []
    var services: [ArraySlice<UInt8>] = []
    for field in ProtoFields(bytes[...]) {
      switch field.number {
      case 2: package = field.string
      case 3: self.dependencies.append(field.string)
      case 4: messages.append(field.bytes)
      case 5: enums.append(field.bytes)
      case 6: services.append(field.bytes)
      default: break
      }
    }
    let prefix = package.isEmpty ? "" : package + "."
    for message in messages { self.addMessage(message, prefix: prefix) }
    for enumeration in enums { self.symbols.append(prefix + Self.name(of: enumeration)) }
    for service in services {
      let serviceName = prefix + Self.name(of: service)
      self.symbols.append(serviceName)
      for field in ProtoFields(service) where field.number == 2 {
        self.symbols.append(serviceName + "." + Self.name(of: field.bytes))
      }
    }
  }

  private mutating func addMessage(_ message: ArraySlice<UInt8>, prefix: String) {
    let name = prefix + Self.name(of: message)
    self.symbols.append(name)
    self.messageTypes.append(name)
    for field in ProtoFields(message) {
      if field.number == 3 { self.addMessage(field.bytes, prefix: name + ".") }
      if field.number == 4 { self.symbols.append(name + "." + Self.name(of: field.bytes)) }
    }
  }

  /// Field 1 (`name`) of a descriptor.
  private static func name(of descriptor: ArraySlice<UInt8>) -> String {
    ProtoFields(descriptor).first { $0.number == 1 }?.string ?? ""
  }
}

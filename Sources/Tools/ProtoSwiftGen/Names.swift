/// Swift and protoc-c names for protobuf declarations.
enum Names {
  // MARK: Swift

  /// Words that must be escaped with backticks to be used as Swift identifiers.
  static let swiftKeywords: Set<String> = [
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import",
    "init", "inout", "internal", "let", "open", "operator", "private", "precedencegroup",
    "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias", "var",
    "break", "case", "catch", "continue", "default", "defer", "do", "else", "fallthrough", "for",
    "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while", "Any", "as",
    "await", "false", "is", "nil", "self", "Self", "super", "throws", "true", "try", "Type",
    "Protocol", "consume", "copy", "discard", "borrowing", "consuming", "package", "some", "any",
  ]

  /// Nested type names that would shadow something every generated type relies on.
  static let reservedTypeNames: Set<String> = ["Type", "Protocol", "Self", "Any", "Method"]

  /// `name` escaped with backticks when it is a Swift keyword.
  static func escaped(_ name: String) -> String {
    Self.swiftKeywords.contains(name) ? "`\(name)`" : name
  }

  /// The Swift prefix of a package: `grpc.health.v1` → `Grpc_Health_V1_`, `my_pkg` → `MyPkg_`.
  static func packagePrefix(_ package: String) -> String {
    guard !package.isEmpty else { return "" }
    return package.split(separator: ".").map { Self.upperCamel(String($0)) }.joined(separator: "_")
      + "_"
  }

  /// `foo_bar` → `FooBar`; letters after the first of each piece keep their case.
  static func upperCamel(_ name: String) -> String {
    var result = ""
    var capitalizeNext = true
    for character in name {
      if character == "_" {
        capitalizeNext = true
      } else if capitalizeNext {
        result += character.uppercased()
        capitalizeNext = false
      } else {
        result.append(character)
      }
    }
    return result
  }

  /// `fill_oauth_scope` → `fillOauthScope`, `SERVICE_UNKNOWN` → `serviceUnknown`,
  /// `EmptyCall` → `emptyCall`, `HTTPRequest` → `httpRequest`.
  static func lowerCamel(_ name: String) -> String {
    let pieces = name.split(separator: "_").map(String.init)
    guard !pieces.isEmpty else { return name }
    var result = ""
    for (index, piece) in pieces.enumerated() {
      let isAllUpper = piece.allSatisfy { !$0.isLetter || $0.isUppercase }
      var word = isAllUpper ? piece.lowercased() : piece
      if index == 0 {
        word = Self.lowercasingLeadingCapitals(word)
      } else {
        word = word.prefix(1).uppercased() + word.dropFirst()
      }
      result += word
    }
    if let first = result.first, first.isNumber { result = "_" + result }
    return result
  }

  /// `EmptyCall` → `emptyCall`; a leading acronym is lowered up to the start of the next word
  /// (`HTTPRequest` → `httpRequest`).
  private static func lowercasingLeadingCapitals(_ word: String) -> String {
    let characters = Array(word)
    var end = 0
    while end < characters.count, characters[end].isUppercase { end += 1 }
    if end > 1, end < characters.count, characters[end].isLowercase { end -= 1 }
    return String(characters[..<end]).lowercased() + String(characters[end...])
  }

  /// The Swift name of a top-level or nested type, relative to its file's module.
  static func swiftTypeName(package: String, parents: [String], name: String) -> String {
    guard let outermost = parents.first else {
      return Self.packagePrefix(package) + name
    }
    let chain = [Self.packagePrefix(package) + outermost] + parents.dropFirst().map(Self.nestedName)
    return (chain + [Self.nestedName(name)]).joined(separator: ".")
  }

  private static func nestedName(_ name: String) -> String {
    Self.reservedTypeNames.contains(name) ? name + "Message" : name
  }

  static func swiftName(of message: MessageInfo) -> String {
    Self.swiftTypeName(package: message.file.package, parents: message.parents, name: message.name)
  }

  static func swiftName(of enumeration: EnumInfo) -> String {
    Self.swiftTypeName(
      package: enumeration.file.package, parents: enumeration.parents, name: enumeration.name)
  }

  /// The last component of a type's Swift name (what its declaration spells).
  static func localName(_ swiftName: String) -> String {
    String(swiftName.split(separator: ".").last!)
  }

  /// The Swift case names of an enum's values, in declaration order: the enum-name prefix
  /// (`GRPCLB_ROUTE_TYPE_` of `GrpclbRouteType`) is dropped when every value has it.
  static func caseNames(of enumeration: EnumInfo) -> [String] {
    let prefix = enumeration.name.filter { $0 != "_" }.lowercased()
    func stripped(_ value: String) -> String? {
      let characters = Array(value)
      var matched = 0
      var index = 0
      let target = Array(prefix)
      while index < characters.count, matched < target.count {
        if characters[index] == "_" {
          index += 1
          continue
        }
        guard characters[index].lowercased() == String(target[matched]) else { return nil }
        matched += 1
        index += 1
      }
      guard matched == target.count else { return nil }
      while index < characters.count, characters[index] == "_" { index += 1 }
      let rest = String(characters[index...])
      guard let first = rest.first, first.isLetter else { return nil }
      return rest
    }
    let strippedNames = enumeration.values.map { stripped($0.name) }
    let useStripped = strippedNames.allSatisfy { $0 != nil }
    var seen: Set<String> = []
    var result: [String] = []
    for (index, value) in enumeration.values.enumerated() {
      var name = Self.lowerCamel(useStripped ? strippedNames[index]! : value.name)
      if name == "unrecognized" { name += "_" }
      while seen.contains(name) { name += "_" }
      seen.insert(name)
      result.append(name)
    }
    return result
  }

  // MARK: protoc-c

  /// Words protoc-c suffixes with `_` in member names (C and C++ keywords).
  static let cKeywords: Set<String> = [
    "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char",
    "class", "compl", "const", "const_cast", "continue", "default", "delete", "do", "double",
    "dynamic_cast", "else", "enum", "explicit", "extern", "false", "float", "for", "friend",
    "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "not", "not_eq",
    "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "return", "short", "signed", "sizeof", "static", "static_cast", "struct", "switch",
    "template", "this", "throw", "true", "try", "typedef", "typeid", "typename", "union",
    "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
  ]

  /// protoc-c's `CamelToLower`: `SimpleRequest` → `simple_request`, `HTTPRequest` →
  /// `httprequest`, `URLs2Go` → `urls2_go`.
  static func cLower(_ name: String) -> String {
    var result = ""
    var previousWasUpper = true
    for character in name {
      let isUpper = character.isUppercase
      if isUpper {
        if !previousWasUpper { result += "_" }
        result += character.lowercased()
      } else {
        result.append(character)
      }
      previousWasUpper = isUpper
    }
    return result
  }

  private static func cComponents(package: String, parents: [String], name: String) -> [String] {
    (package.isEmpty ? [] : package.split(separator: ".").map(String.init)) + parents + [name]
  }

  /// The C struct or enum type: `Grpc__Testing__SimpleRequest`.
  static func cTypeName(package: String, parents: [String], name: String) -> String {
    Self.cComponents(package: package, parents: parents, name: name).map(Self.upperCamel)
      .joined(separator: "__")
  }

  /// The C function prefix: `grpc__testing__simple_request`.
  static func cFunctionPrefix(package: String, parents: [String], name: String) -> String {
    Self.cComponents(package: package, parents: parents, name: name).map(Self.cLower)
      .joined(separator: "__")
  }

  static func cTypeName(of message: MessageInfo) -> String {
    Self.cTypeName(package: message.file.package, parents: message.parents, name: message.name)
  }

  static func cTypeName(of enumeration: EnumInfo) -> String {
    Self.cTypeName(
      package: enumeration.file.package, parents: enumeration.parents, name: enumeration.name)
  }

  static func cFunctionPrefix(of message: MessageInfo) -> String {
    Self.cFunctionPrefix(package: message.file.package, parents: message.parents, name: message.name)
  }

  /// A field's struct member, as Swift spells it: lower-cased, `_` after C keywords, and
  /// backticks where the result is a Swift keyword.
  static func cMember(_ fieldName: String) -> String {
    var name = fieldName.lowercased()
    if Self.cKeywords.contains(name) { name += "_" }
    return Self.escaped(name)
  }

  /// The `<oneof>_case` member of a oneof.
  static func cOneofCase(_ oneofName: String) -> String {
    Self.escaped(Self.cLower(oneofName) + "_case")
  }
}

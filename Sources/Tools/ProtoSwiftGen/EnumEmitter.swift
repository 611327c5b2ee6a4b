/// Writes the Swift enum for a protobuf enum.
///
/// proto3 enums are open: a value the proto does not declare decodes to `.unrecognized(n)` and
/// encodes back to `n`, so it survives a round trip. Equality and hashing follow `rawValue`.
struct EnumEmitter {
  func emit(_ enumeration: EnumInfo, into w: inout CodeWriter) {
    let swiftName = Names.swiftName(of: enumeration)
    let caseNames = Names.caseNames(of: enumeration)
    // Aliases (allow_alias) share a number: the first name is the case, later ones are
    // static properties.
    var primary: [Int32: String] = [:]
    var cases: [(name: String, value: EnumValueInfo)] = []
    var aliases: [(name: String, target: String, value: EnumValueInfo)] = []
    for (index, value) in enumeration.values.enumerated() {
      let name = caseNames[index]
      if let target = primary[value.number] {
        aliases.append((name, target, value))
      } else {
        primary[value.number] = name
        cases.append((name, value))
      }
    }

    w.doc(enumeration.comment, fallback: "The `\(enumeration.fullName)` enum.")
    w.block(
      "public enum \(Names.localName(swiftName)): Equatable, Hashable, Sendable, RawRepresentable, CaseIterable"
    ) { w in
      for (name, value) in cases {
        w.doc(value.comment, fallback: "`\(value.name)` (\(value.number)).")
        w.line("case \(Names.escaped(name))")
      }
      w.line("/// A value this version of the proto does not declare; it survives a round trip.")
      w.line("case unrecognized(Int32)")
      for (name, target, value) in aliases {
        w.line()
        w.doc(value.comment, fallback: "`\(value.name)`, an alias of `.\(target)`.")
        w.line("public static let \(Names.escaped(name)): \(swiftName) = .\(Names.escaped(target))")
      }
      w.line()
      w.line("/// The default value, `.\(cases[0].name)`.")
      w.line("public init() {")
      w.line("  self = .\(Names.escaped(cases[0].name))")
      w.line("}")
      w.line()
      w.line("/// The case for `rawValue`; never fails: unknown numbers become `.unrecognized`.")
      w.block("public init(rawValue: Int32)") { w in
        w.switchBlock("switch rawValue") { w in
          for (name, value) in cases {
            w.line("case \(value.number): self = .\(Names.escaped(name))")
          }
          w.line("default: self = .unrecognized(rawValue)")
        }
      }
      w.line()
      w.line("/// The number sent on the wire.")
      w.block("public var rawValue: Int32") { w in
        w.switchBlock("switch self") { w in
          for (name, value) in cases {
            w.line("case .\(Names.escaped(name)): return \(value.number)")
          }
          w.line("case .unrecognized(let value): return value")
        }
      }
      w.line()
      w.line("/// Every declared value, in declaration order.")
      let all = cases.map { "." + Names.escaped($0.name) }.joined(separator: ", ")
      w.line("public static let allCases: [\(swiftName)] = [\(all)]")
      w.line()
      w.line("public static func == (lhs: \(swiftName), rhs: \(swiftName)) -> Bool {")
      w.line("  lhs.rawValue == rhs.rawValue")
      w.line("}")
      w.line()
      w.line("public func hash(into hasher: inout Hasher) {")
      w.line("  hasher.combine(self.rawValue)")
      w.line("}")
    }
  }
}

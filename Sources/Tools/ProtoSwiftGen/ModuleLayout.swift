/// Which Swift module each proto package's code goes to: one module per package, so a binary
/// links only the packages it uses.
///
/// `identity.v1` → module `IdentityV1Protos` in folder `IdentityV1`, whose file descriptors
/// are `IdentityV1ProtoFiles.all`; `grpc.health.v1` → `GRPCHealthV1Protos`.
struct ProtoModule: Hashable, Comparable {
  /// `IdentityV1`: the folder under the output directory, and the stem of every name.
  let stem: String

  /// The Swift module (SwiftPM target) the package's code is compiled into.
  var name: String { self.stem + "Protos" }
  /// The generated enum listing the module's serialized file descriptors.
  var filesEnum: String { self.stem + "ProtoFiles" }
  /// The generated enum listing the method descriptors of the module's services.
  var methodsEnum: String { self.stem + "ProtoMethods" }

  init(package: String) throws {
    guard !package.isEmpty else {
      throw GeneratorError("Every proto file needs a package (its Swift module is named after it).")
    }
    self.stem = package.split(separator: ".").map { part in
      part == "grpc" ? "GRPC" : part.prefix(1).uppercased() + part.dropFirst()
    }.joined()
  }

  static func < (lhs: Self, rhs: Self) -> Bool { lhs.stem < rhs.stem }
}

extension DescriptorSet {
  /// Each file's module.
  func module(of file: FileInfo) throws -> ProtoModule {
    try ProtoModule(package: file.package)
  }

  /// The modules that `file` imports from (other packages), in name order; with `withCode`,
  /// only those with generated code (not the modules of annotation-only files, which hold
  /// descriptors only).
  func importedModules(of file: FileInfo, withCode: Bool = false) throws -> [ProtoModule] {
    let own = try self.module(of: file)
    var modules: Set<ProtoModule> = []
    for dependency in file.dependencies {
      guard let other = self.files.first(where: { $0.name == dependency }) else {
        throw GeneratorError("\(file.name) imports \(dependency), which is not in the descriptor set.")
      }
      if withCode && other.isAnnotationOnly { continue }
      let module = try self.module(of: other)
      if module != own { modules.insert(module) }
    }
    return modules.sorted()
  }

  /// The files grouped by module, modules in name order, files in input order.
  func filesByModule() throws -> [(module: ProtoModule, files: [FileInfo])] {
    var groups: [ProtoModule: [FileInfo]] = [:]
    for file in self.files { groups[try self.module(of: file), default: []].append(file) }
    return groups.keys.sorted().map { ($0, groups[$0]!) }
  }
}

public import RPCCore

/// Who may call which method, taken from the methods' descriptors (``MethodDescriptor/access``,
/// which the generator copies from each rpc's `(suite.v1.access)` option).
///
/// Health checks and server reflection are always public. A method that declares no access
/// cannot be served: ``init(methods:)`` refuses it, so a server with such a method does not
/// start.
public struct AccessRules: Sendable {
  /// Services every executable serves without authentication.
  public static let alwaysPublicServices: Set<String> = [
    "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
  ]

  /// Each method's access by `:path`.
  public let byPath: [String: MethodAccess]
  /// The access of a path not in ``byPath``; `nil`: such a call is refused.
  public let otherwise: MethodAccess?

  /// A server's rules: exactly the declared access of each of `methods` (the methods it
  /// registers).
  ///
  /// - Throws: ``MissingAccessRule`` naming every method (outside the always-public services)
  ///   that declares no access.
  public init(methods: some Sequence<MethodDescriptor>) throws(MissingAccessRule) {
    var byPath: [String: MethodAccess] = [:]
    var missing: [String] = []
    for method in methods where !Self.alwaysPublicServices.contains(method.service) {
      if let access = method.access { byPath[method.path] = access } else { missing.append(method.path) }
    }
    guard missing.isEmpty else { throw MissingAccessRule(paths: missing.sorted()) }
    self.byPath = byPath
    self.otherwise = nil
  }

  /// An edge's rules, such as the gateway's: the methods of `declared` that are public stay
  /// public, as do `alsoPublic` paths; every other path needs a credential of any role (the
  /// services behind check their own roles).
  public static func edge(declared: some Sequence<MethodDescriptor>, alsoPublic: Set<String> = []) -> AccessRules {
    var byPath: [String: MethodAccess] = [:]
    for method in declared where method.access == .public { byPath[method.path] = .public }
    for path in alsoPublic { byPath[path] = .public }
    return AccessRules(byPath: byPath, otherwise: .role(.viewer))
  }

  /// Rules from a table, for tests and special servers.
  public init(byPath: [String: MethodAccess], otherwise: MethodAccess?) {
    self.byPath = byPath
    self.otherwise = otherwise
  }

  /// The access of a call to `descriptor`; `nil` when it declares none (refuse it).
  @inline(__always)
  public func access(_ descriptor: MethodDescriptor) -> MethodAccess? {
    if let access = self.byPath[descriptor.path] { return access }
    if Self.alwaysPublicServices.contains(descriptor.service) { return .public }
    return self.otherwise
  }

  /// The paths callable without a credential (always-public services aside).
  public var publicPaths: Set<String> {
    Set(self.byPath.lazy.filter { $0.value == .public }.map(\.key))
  }
}

/// Methods registered without a declared access rule: the server refuses to start.
public struct MissingAccessRule: Error, CustomStringConvertible {
  /// The `:path`s of the methods.
  public let paths: [String]

  public var description: String {
    "No access rule declared for \(self.paths.joined(separator: ", ")): add "
      + "`option (suite.v1.access) = { role: VIEWER };` (EDITOR, ADMIN, or `{ public: true }`) to each rpc "
      + "and run `make proto`."
  }
}

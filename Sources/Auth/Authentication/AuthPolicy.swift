/// Which methods need which role.
///
/// Methods are named by their full path, `/package.Service/Method`. Health checks and server
/// reflection are always public; everything not listed needs `defaultRole`.
public struct AuthPolicy: Sendable {
  /// Methods callable without a credential (a credential, when sent, is still verified).
  public var publicMethods: Set<String>
  /// The least role each listed method needs.
  public var requiredRoles: [String: Role]
  /// The least role of every other method.
  public var defaultRole: Role

  public init(publicMethods: Set<String> = [], requiredRoles: [String: Role] = [:], defaultRole: Role = .admin) {
    self.publicMethods = publicMethods
    self.requiredRoles = requiredRoles
    self.defaultRole = defaultRole
  }

  /// Services every executable serves without authentication.
  public static let alwaysPublicServices: Set<String> = [
    "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
  ]

  /// Whether `path` may be called without a credential.
  public func isPublic(path: String, service: String) -> Bool {
    Self.alwaysPublicServices.contains(service) || self.publicMethods.contains(path)
  }

  /// The least role `path` needs.
  public func requiredRole(path: String) -> Role {
    self.requiredRoles[path] ?? self.defaultRole
  }
}

/// Identifies a service by its fully qualified protobuf name, such as `grpc.health.v1.Health`.
public struct ServiceDescriptor: Sendable, Hashable, CustomStringConvertible {
  /// The fully qualified name: `<package>.<Service>`.
  public let fullyQualifiedName: String

  public init(fullyQualifiedName: String) {
    self.fullyQualifiedName = fullyQualifiedName
  }

  public var description: String { self.fullyQualifiedName }
}

/// The kind of an RPC method: how many messages flow each way.
public enum RPCKind: Sendable, Hashable {
  case unary
  case clientStreaming
  case serverStreaming
  case bidirectionalStreaming

  /// Whether the client sends exactly one message.
  public var isClientSingle: Bool { self == .unary || self == .serverStreaming }
  /// Whether the server sends exactly one message.
  public var isServerSingle: Bool { self == .unary || self == .clientStreaming }
}

/// Identifies one method of a service; its ``path`` is the HTTP/2 `:path` of a call.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
  /// The fully qualified service name, such as `grpc.testing.TestService`.
  public let service: String
  /// The method name as written in the proto file, such as `UnaryCall`.
  public let method: String
  /// `/<service>/<method>`.
  public let path: String
  /// Who may call the method, from its proto's `(suite.v1.access)` option; `nil` when it
  /// declares none (standard services, or a descriptor parsed from a `:path`). Not part of the
  /// descriptor's identity: two descriptors with the same path are equal.
  public let access: MethodAccess?

  public init(service: String, method: String, access: MethodAccess? = nil) {
    self.service = service
    self.method = method
    self.path = "/\(service)/\(method)"
    self.access = access
  }

  /// Parses a `:path` of the form `/<service>/<method>`.
  public init?(path: String) {
    let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
      return nil
    }
    self.service = String(decoding: parts[1], as: UTF8.self)
    self.method = String(decoding: parts[2], as: UTF8.self)
    self.path = path
    self.access = nil
  }

  public var description: String { self.path }

  public static func == (lhs: MethodDescriptor, rhs: MethodDescriptor) -> Bool { lhs.path == rhs.path }

  public func hash(into hasher: inout Hasher) { hasher.combine(self.path) }
}

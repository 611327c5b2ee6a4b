public import RPCCore
import ProtoRuntime

/// The services described by proto files compiled into a binary, read from their embedded
/// `FileDescriptorProto`s (`<Stem>ProtoFiles.all`): what a proxy needs to route a method
/// without its types.
public enum CompiledServices {
  /// Whether a method changes anything: `idempotency_level` from its options.
  public enum Idempotency: Sendable, Hashable {
    case unknown
    /// `NO_SIDE_EFFECTS`: safe to retry and to cache.
    case noSideEffects
    /// `IDEMPOTENT`: repeating it has the effect of doing it once.
    case idempotent

    /// Whether a failed attempt may be retried.
    public var allowsRetry: Bool { self != .unknown }
  }

  /// A method of a compiled-in service.
  public struct Method: Sendable, Hashable {
    public let descriptor: MethodDescriptor
    public let kind: RPCKind
    public let idempotency: Idempotency
  }

  /// Every method of every service that `files` declare, by service name.
  public static func methods(in files: [(name: String, serialized: [UInt8])]) -> [String: [Method]] {
    var services: [String: [Method]] = [:]
    for file in files {
      var package = ""
      var serviceBytes: [ArraySlice<UInt8>] = []
      for field in ProtoFields(file.serialized[...]) {
        if field.number == 2 { package = field.string }
        if field.number == 6 { serviceBytes.append(field.bytes) }
      }
      for service in serviceBytes {
        var name = ""
        var methods: [ArraySlice<UInt8>] = []
        for field in ProtoFields(service) {
          if field.number == 1 { name = field.string }
          if field.number == 2 { methods.append(field.bytes) }
        }
        let fullName = package.isEmpty ? name : package + "." + name
        services[fullName] = methods.map { Self.method(service: fullName, $0) }
      }
    }
    return services
  }

  private static func method(service: String, _ bytes: ArraySlice<UInt8>) -> Method {
    var name = ""
    var clientStreaming = false
    var serverStreaming = false
    var idempotency = Idempotency.unknown
    for field in ProtoFields(bytes) {
      switch field.number {
      case 1: name = field.string
      case 4:
        for option in ProtoFields(field.bytes) where option.number == 34 {
          idempotency = option.varint == 1 ? .noSideEffects : option.varint == 2 ? .idempotent : .unknown
        }
      case 5: clientStreaming = field.varint == 1
      case 6: serverStreaming = field.varint == 1
      default: break
      }
    }
    let kind: RPCKind =
      switch (clientStreaming, serverStreaming) {
      case (false, false): .unary
      case (true, false): .clientStreaming
      case (false, true): .serverStreaming
      case (true, true): .bidirectionalStreaming
      }
    return Method(descriptor: MethodDescriptor(service: service, method: name), kind: kind, idempotency: idempotency)
  }
}

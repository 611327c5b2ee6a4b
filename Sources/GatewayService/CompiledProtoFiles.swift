import CatalogV1Protos
import GRPCHealthV1Protos
import GRPCReflectionV1Protos
import GRPCReflectionV1alphaProtos
import GRPCTestingProtos
import GatewayV1Protos
import IdentityV1Protos
public import ServiceKit

extension CompiledServices {
  /// The proto files of every service the gateway can route: the suite's services, the
  /// standard ones, and `grpc.testing` (the wire tests route `grpc.testing.TestService` to
  /// Python backends).
  static let protoFiles: [(name: String, serialized: [UInt8])] =
    IdentityV1ProtoFiles.all + CatalogV1ProtoFiles.all + GatewayV1ProtoFiles.all + GRPCHealthV1ProtoFiles.all
    + GRPCReflectionV1ProtoFiles.all + GRPCReflectionV1alphaProtoFiles.all + GRPCTestingProtoFiles.all

  /// Every method of every service the gateway can route, by service name.
  public static let methodsByService: [String: [Method]] = CompiledServices.methods(in: protoFiles)
}

extension ProxyMethods {
  /// Reflection describes the routed services from the same files the routes come from.
  var protoFiles: [(name: String, serialized: [UInt8])] { CompiledServices.protoFiles }
}

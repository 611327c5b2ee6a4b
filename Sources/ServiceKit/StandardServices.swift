public import RPCCore

/// The services every server of the suite offers beside its own.
public enum StandardServices {
  /// `services` plus health and reflection (v1 and v1alpha) describing all of them, from the
  /// proto files each service names.
  public static func adding(to services: [any RegistrableRPCService], health: HealthService) -> [any RegistrableRPCService] {
    var router = RPCRouter()
    for service in services + [health] { router.register(service) }
    let names = Set(router.descriptors.map(\.service))
    let files = (services + [health]).flatMap(\.protoFiles)
    return services + [health] + ReflectionService(serviceNames: Array(names), files: files).services
  }
}

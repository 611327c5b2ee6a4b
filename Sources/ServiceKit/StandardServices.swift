public import RPCCore

/// The services every server of the suite offers beside its own.
public enum StandardServices {
  /// `services` plus health and reflection (v1 and v1alpha) describing all of them.
  public static func adding(to services: [any RegistrableRPCService], health: HealthService) -> [any RegistrableRPCService] {
    var router = RPCRouter()
    for service in services + [health] { router.register(service) }
    let names = Set(router.descriptors.map(\.service))
    return services + [health] + ReflectionService(serviceNames: Array(names)).services
  }
}

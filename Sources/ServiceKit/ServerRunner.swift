internal import Dispatch
public import Logging
public import RPCCore
public import RPCHTTP2
#if canImport(Glibc)
internal import Glibc
#endif

/// Runs a gRPC server the way every executable of the suite does.
///
/// Adds the health service, binds, logs one ready line naming the address, and serves until
/// SIGTERM or SIGINT, then marks health `NOT_SERVING`, stops and returns (exit status 0).
public enum ServerRunner {
  /// Serves `services` on `address` until a termination signal arrives, then gives in-flight
  /// calls up to `drainTimeout` to finish.
  public static func run(
    name: String,
    address: ListenAddress,
    services: [any RegistrableRPCService],
    interceptors: [any ServerInterceptor] = [],
    configuration: GRPCServer.Configuration = GRPCServer.Configuration(),
    health: HealthService = HealthService(),
    drainTimeout: Duration = .seconds(10),
    logger: Logger
  ) async throws {
    var configuration = configuration
    configuration.host = address.host
    configuration.port = address.port
    let server = GRPCServer(
      configuration: configuration, services: Self.withStandardServices(services, health: health),
      interceptors: interceptors, logger: logger)
    let bound: SocketAddressDescription
    do {
      let address = try await server.start()
      bound = SocketAddressDescription(host: address.ipAddress, port: address.port)
    } catch {
      await server.shutDown(gracePeriod: .zero)
      throw StartupError(message: "Cannot listen on \(address): \(Self.reason(error))")
    }
    let boundAddress = ListenAddress(host: bound.host ?? address.host, port: bound.port ?? address.port)
    logger.info(
      "\(name) ready",
      metadata: ["server.address": "\(boundAddress)", "server.methods": "\(server.methods.count)"])

    let signal = await Self.waitForTerminationSignal()
    logger.info("\(name) stopping", metadata: ["signal": "\(signal)"])
    health.enterNotServing()
    await server.shutDown(gracePeriod: drainTimeout)
    logger.info("\(name) stopped")
  }

  /// `services` plus the standard ones every server offers: health and reflection (v1 and
  /// v1alpha) describing all of them, from the proto files each service names.
  public static func withStandardServices(
    _ services: [any RegistrableRPCService], health: HealthService
  ) -> [any RegistrableRPCService] {
    var router = RPCRouter()
    for service in services + [health] { router.register(service) }
    let names = Set(router.descriptors.map(\.service))
    let files = (services + [health]).flatMap(\.protoFiles)
    return services + [health] + ReflectionService(serviceNames: Array(names), files: files).services
  }

  /// Suspends until SIGTERM or SIGINT and returns its name.
  public static func waitForTerminationSignal() async -> String {
    await withCheckedContinuation { continuation in
      let queue = DispatchQueue(label: "signals")
      let resumed = LockedFlag()
      var sources: [any DispatchSourceSignal] = []
      for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
        source.setEventHandler {
          if resumed.setOnce() { continuation.resume(returning: name) }
        }
        source.resume()
        sources.append(source)
      }
      // The sources must outlive this scope; they live as long as the process.
      SignalSources.keep(sources)
    }
  }
}

/// A failure to start: bad configuration or an address that cannot be bound. Its description
/// is the one line an operator sees.
public struct StartupError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { self.message }

  public init(message: String) {
    self.message = message
  }
}

private struct SocketAddressDescription {
  let host: String?
  let port: Int?
}

extension ServerRunner {
  /// The operating-system reason inside a socket error, without Swift type noise.
  static func reason(_ error: any Error) -> String {
    let text = String(describing: error)
    if text.contains("Address already in use") { return "address already in use" }
    if text.contains("Permission denied") { return "permission denied" }
    if text.contains("Cannot assign requested address") { return "no such local address" }
    return text
  }
}

private final class LockedFlag: @unchecked Sendable {
  // Safe: only touched on the serial signal queue.
  private var value = false
  func setOnce() -> Bool {
    if self.value { return false }
    self.value = true
    return true
  }
}

private enum SignalSources {
  nonisolated(unsafe) static var retained: [any DispatchSourceSignal] = []
  static func keep(_ sources: [any DispatchSourceSignal]) {
    // Called once per process, from the signal setup above.
    self.retained.append(contentsOf: sources)
  }
}

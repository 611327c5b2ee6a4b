public import Logging
public import RPCCore
public import RPCHTTP2
public import ServiceKit

/// A bound gRPC server with the standard services (health, reflection), as every executable of
/// the suite runs one.
public struct RunningServer: Sendable {
  public let name: String
  public let server: GRPCServer
  public let health: HealthService
  /// The address actually bound (with the port chosen when asked for port 0).
  public let address: ListenAddress
  let logger: Logger

  /// Binds `address` and logs the ready line: `<name> ready`, with `server.address` (which
  /// tests/python/conftest.py reads) and `server.methods`.
  ///
  /// - Throws: ``StartupError`` naming the address and the operating system's reason.
  public static func start(
    name: String, address: ListenAddress, services: [any RegistrableRPCService],
    interceptors: [any ServerInterceptor], configuration: GRPCServer.Configuration,
    health: HealthService = HealthService(), logger: Logger
  ) async throws -> RunningServer {
    var configuration = configuration
    configuration.host = address.host
    configuration.port = address.port
    let server = GRPCServer(
      configuration: configuration, services: StandardServices.adding(to: services, health: health),
      interceptors: interceptors, logger: logger)
    let bound: ListenAddress
    do {
      let socket = try await server.start()
      bound = ListenAddress(host: socket.ipAddress ?? address.host, port: socket.port ?? address.port)
    } catch {
      await server.shutDown(gracePeriod: .zero)
      throw StartupError(message: "Cannot listen on \(address): \(Self.reason(error))")
    }
    logger.info(
      "\(name) ready", metadata: ["server.address": "\(bound)", "server.methods": "\(server.methods.count)"])
    return RunningServer(name: name, server: server, health: health, address: bound, logger: logger)
  }

  /// Marks health `NOT_SERVING`, gives in-flight calls up to `drainTimeout` to finish, stops.
  public func stop(drainTimeout: Duration) async {
    self.health.enterNotServing()
    await self.server.shutDown(gracePeriod: drainTimeout)
    self.logger.info("\(self.name) stopped")
  }

  /// The operating-system reason inside a socket error, without Swift type noise.
  static func reason(_ error: any Error) -> String {
    let text = String(describing: error)
    if text.contains("Address already in use") { return "address already in use" }
    if text.contains("Permission denied") { return "permission denied" }
    if text.contains("Cannot assign requested address") { return "no such local address" }
    return text
  }
}

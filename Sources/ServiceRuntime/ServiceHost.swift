import Auth
public import Logging
import RPCCore
public import RPCHTTP2
import ServiceKit
internal import ServiceLifecycle
internal import UnixSignals

/// Runs a service executable from start to exit, the same way for every service.
///
/// In one task tree (a `ServiceGroup` of swift-service-lifecycle, docs/service-kit.md):
/// configuration (flags and environment, every error one line before anything opens) →
/// the database (``HostDatabase``; DatabaseRuntime's pool) → its preparation (migrations of the
/// service's own schema) → authentication (one shared connection to identity for signing keys
/// and API-key exchange; each registered method checked against the access it declares) → the
/// gRPC server (health and reflection added; one ready line naming the address) → the
/// service's background workers →
/// on SIGTERM or SIGINT: health `NOT_SERVING`, drain for `--drain-timeout`, workers cancelled,
/// the service's own `close`, the identity connection and the database (pool) closed → exit 0.
/// A failure anywhere closes what was opened, in reverse order, and exits non-zero.
public struct ServiceHost: Sendable {
  public let name: String
  public let defaultPort: Int
  public var server: ServerOptions
  /// The service's database (DatabaseRuntime's `ServiceDatabase`: its schema), or `nil` for a
  /// service without one (gateway, interop), which then links no database client.
  public var database: (any HostDatabase)?
  public var authentication: ServiceAuthentication
  /// The server configuration before `--threads` and `--busy-poll-us` apply.
  public var serverConfiguration: GRPCServer.Configuration

  public init(
    name: String, defaultPort: Int, server: ServerOptions, database: (any HostDatabase)? = nil,
    authentication: ServiceAuthentication = .none,
    serverConfiguration: GRPCServer.Configuration = GRPCServer.Configuration()
  ) {
    self.name = name
    self.defaultPort = defaultPort
    self.server = server
    self.database = database
    self.authentication = authentication
    self.serverConfiguration = serverConfiguration
  }

  /// Installs the JSON log handler (once per process) and returns the service's logger.
  public func bootstrapLogging() -> Logger {
    LoggingBootstrap.once()
    return Logger(label: self.name)
  }

  /// Runs the service until SIGTERM or SIGINT; `assemble` builds it once the database is prepared.
  public func run(_ assemble: @escaping @Sendable (HostResources) async throws -> HostedService) async throws {
    let logger = self.bootstrapLogging()
    let group = try await self.makeGroup(logger: logger, stoppingOn: [.sigterm, .sigint], assemble: assemble)
    try await group.run()
  }

  /// The service's task tree, not yet running. Every error in the configuration is thrown
  /// here, before anything opens; `signals` are trapped before it returns, so a signal that
  /// arrives during start-up (or right after the ready line) stops the service gracefully.
  func makeGroup(
    logger: Logger, stoppingOn signals: [UnixSignal],
    assemble: @escaping @Sendable (HostResources) async throws -> HostedService
  ) async throws -> ServiceGroup {
    let source = try self.authentication.resolve()
    let database = try self.database?.open(name: self.name, logger: logger)

    // Where the host's authentication verifies tokens; its interceptors are built from the
    // registered services' declared access once the service is assembled.
    var identity: IdentityConnection?
    var keys: (any VerificationKeyProvider)?
    switch source {
    case .none: break
    case .identity(let address):
      let connection = IdentityConnection(address: address)
      identity = connection
      keys = connection.client.verificationKeys
    case .keys(let fixed):
      keys = fixed
    }

    // Started together; on shutdown stopped in reverse: the signal watcher, the server (which
    // drains, then ends its workers), the identity connection, the database.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let database {
      services.append(.init(service: database, serviceName: "database pool"))
    }
    if let identity {
      services.append(.init(service: CloseOnShutdown { await identity.close() }, serviceName: "identity connection"))
    }
    services.append(
      .init(
        service: ServerService(
          host: self, logger: logger, database: database, identity: identity?.client, verificationKeys: keys,
          assemble: assemble),
        serviceName: "gRPC server"))
    if !signals.isEmpty {
      let trapped = await UnixSignalsSequence(trapping: signals)
      services.append(
        .init(
          service: SignalWatcher(name: self.name, signals: trapped, logger: logger),
          successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "signals"))
    }
    return ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
  }
}

/// `LoggingSystem.bootstrap` may run once per process; executables call it through here.
enum LoggingBootstrap {
  private static let done: Void = LoggingSystem.bootstrap(JSONLogHandler.init)
  static func once() { _ = self.done }
}

/// Runs `close` when the group shuts down or is cancelled.
struct CloseOnShutdown: Service {
  let close: @Sendable () async -> Void

  func run() async throws {
    try? await gracefulShutdown()
    await self.close()
  }
}

/// Waits for SIGTERM or SIGINT, logs it and returns, which shuts the group down gracefully.
struct SignalWatcher: Service {
  let name: String
  /// Trapped already: registered before the group starts.
  let signals: UnixSignalsSequence
  let logger: Logger

  func run() async throws {
    let caught = await cancelWhenGracefulShutdown { [signals] in
      for await signal in signals { return Optional(signal) }
      return nil
    }
    guard let caught else { return }
    self.logger.info("\(self.name) stopping", metadata: ["signal": "\(caught)"])
  }
}

/// Migrates, assembles and serves; after graceful shutdown begins, drains, ends the workers
/// and the service's own resources.
struct ServerService: Service {
  let host: ServiceHost
  let logger: Logger
  let database: (any OpenHostDatabase)?
  let identity: IdentityClient?
  /// The keys that verify access tokens when the host authenticates callers, else `nil`.
  let verificationKeys: (any VerificationKeyProvider)?
  let assemble: @Sendable (HostResources) async throws -> HostedService

  private enum Ended { case shutdown, worker }

  func run() async throws {
    try await self.database?.prepare(logger: self.logger)
    let hosted = try await self.assemble(
      HostResources(name: self.host.name, logger: self.logger, database: self.database, identity: self.identity))
    do {
      try await self.serve(hosted)
    } catch {
      await hosted.close()
      throw error
    }
    await hosted.close()
  }

  private func serve(_ hosted: HostedService) async throws {
    // A signal during start-up: stop before opening the port.
    if Task.isShuttingDownGracefully { return }
    // The host's authentication: every registered method is checked against its declared access.
    let authentication =
      try self.verificationKeys.map {
        try ServiceAuthentication.interceptors(services: hosted.services, keys: $0, identity: self.identity)
      } ?? []
    let address = self.host.server.address(defaultPort: self.host.defaultPort)
    var configuration = self.host.server.serverConfiguration(self.host.serverConfiguration)
    hosted.configureServer(&configuration)
    let running = try await RunningServer.start(
      name: self.host.name, address: address, services: hosted.services,
      interceptors: authentication + hosted.interceptors, configuration: configuration, logger: self.logger)
    do {
      try await withThrowingTaskGroup(of: Ended.self) { group in
        group.addTask {
          try await gracefulShutdown()
          return .shutdown
        }
        for worker in hosted.workers {
          group.addTask {
            do {
              try await worker.run()
            } catch is CancellationError {
            } catch {
              self.logger.error("\(worker.name) failed", metadata: ["error": "\(error)"])
              throw error
            }
            return .worker
          }
        }
        // Serves until graceful shutdown; a worker that throws ends the service.
        while let ended = try await group.next(), ended != .shutdown {}
        await running.stop(drainTimeout: self.host.server.drain)
        // The workers run through the drain, as in-flight calls may rely on them.
        group.cancelAll()
      }
    } catch {
      await running.stop(drainTimeout: self.host.server.drain)
      throw error
    }
  }
}

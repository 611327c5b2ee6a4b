public import Logging
public import RPCCore
public import RPCHTTP2
public import ServiceKit

/// What the host hands a service when it assembles it: the logger, the client of identity when
/// one is configured, and its prepared database, if it declares one (DatabaseRuntime reads the
/// pool back from it: `host.pool`).
public struct HostResources: Sendable {
  /// The service's name, as in its logs.
  public let name: String
  public let logger: Logger
  /// The shared client of identity (`--identity-address`), if the host has one.
  public let identity: IdentityClient?
  /// The service's database, opened and prepared, or `nil` when it declares none.
  public let database: (any OpenHostDatabase)?

  public init(name: String, logger: Logger, database: (any OpenHostDatabase)?, identity: IdentityClient?) {
    self.name = name
    self.logger = logger
    self.database = database
    self.identity = identity
  }
}

/// What a service gives the host to run: its RPC services, the interceptors it brings itself,
/// the background workers that run beside the server, and what to close after it stops.
public struct HostedService: Sendable {
  public var services: [any RegistrableRPCService]
  /// The service's own interceptors; they run after the host's authentication ones.
  public var interceptors: [any ServerInterceptor]
  /// Jobs started once the server is ready and cancelled after it has drained.
  public var workers: [BackgroundWorker]
  /// Adjusts the server's configuration after the command-line options are applied (the
  /// gateway sets its event-loop path here).
  public var configureServer: @Sendable (inout GRPCServer.Configuration) -> Void
  /// Runs once the server has stopped and the workers have ended, before the database closes.
  public var close: @Sendable () async -> Void

  public init(
    services: [any RegistrableRPCService],
    interceptors: [any ServerInterceptor] = [],
    workers: [BackgroundWorker] = [],
    configureServer: @escaping @Sendable (inout GRPCServer.Configuration) -> Void = { _ in },
    close: @escaping @Sendable () async -> Void = {}
  ) {
    self.services = services
    self.interceptors = interceptors
    self.workers = workers
    self.configureServer = configureServer
    self.close = close
  }
}

public import Logging
public import NIOCore
internal import NIOPosix
public import RPCCore
internal import Synchronization

/// A gRPC server over HTTP/2 cleartext (prior knowledge), built on nghttp2.
///
/// One event loop per core accepts and serves connections; each connection is pinned to one
/// loop, and its handlers run on that loop's thread unless they await elsewhere.
///
/// ```swift
/// let server = GRPCServer(configuration: .init(port: 50060), services: [TestService()])
/// try await server.serve()   // until cancelled or shutDown()
/// ```
public final class GRPCServer: Sendable {
  /// Server settings.
  public struct Configuration: Sendable {
    /// The address to listen on. Default `127.0.0.1`.
    public var host: String
    /// The port; `0` picks a free one (see ``GRPCServer/start()``). Default `0`.
    public var port: Int
    /// The largest request message accepted; larger ones fail with `RESOURCE_EXHAUSTED`.
    /// Default 4 MiB.
    public var maxReceiveMessageBytes: Int
    /// Event-loop threads. Default: one per core.
    public var threads: Int
    /// Concurrent streams a client may open on one connection. Default 256.
    public var maxConcurrentStreams: UInt32
    /// The largest request header list accepted, in bytes. Default 16 KiB.
    public var maxHeaderListBytes: UInt32
    /// Open connections accepted at once; further ones are closed on accept. Default 4096.
    public var maxConnections: Int
    /// A connection that sends nothing for this long after connecting is closed. Default 10 s.
    public var handshakeTimeout: Duration
    /// Offered every unary call before a task is started for it (a proxy's fast path).
    /// Default `nil`.
    public var eventLoopUnaryHandler: (any EventLoopUnaryHandler)?
    /// When set, a loop that has just read from a connection keeps polling its sockets
    /// without sleeping for this long, trading CPU for latency (see docs/rpc-transport.md).
    /// Default `nil`: loops sleep as soon as they are idle.
    public var busyPollWindow: Duration?

    public init(
      host: String = "127.0.0.1",
      port: Int = 0,
      maxReceiveMessageBytes: Int = 4 << 20,
      threads: Int = System.coreCount,
      maxConcurrentStreams: UInt32 = 256,
      maxHeaderListBytes: UInt32 = 16 << 10,
      maxConnections: Int = 4096,
      handshakeTimeout: Duration = .seconds(10),
      eventLoopUnaryHandler: (any EventLoopUnaryHandler)? = nil,
      busyPollWindow: Duration? = nil
    ) {
      self.eventLoopUnaryHandler = eventLoopUnaryHandler
      self.busyPollWindow = busyPollWindow
      self.maxConnections = maxConnections
      self.handshakeTimeout = handshakeTimeout
      self.host = host
      self.port = port
      self.maxReceiveMessageBytes = maxReceiveMessageBytes
      self.threads = threads
      self.maxConcurrentStreams = maxConcurrentStreams
      self.maxHeaderListBytes = maxHeaderListBytes
    }
  }

  private enum State {
    case idle
    case running(any Channel)
    case stopped
  }

  public let configuration: Configuration
  private let router: RPCRouter
  private let interceptors: [any ServerInterceptor]
  private let logger: Logger
  private let group: MultiThreadedEventLoopGroup
  let busyPollers: [ObjectIdentifier: EventLoopBusyPoller]
  private let state = Mutex<State>(.idle)
  private let stopped = Mutex<[CheckedContinuation<Void, Never>]>([])
  private let connections = ConnectionRegistry()

  /// Creates a server for `services`; interceptors run around every call, in order.
  public init(
    configuration: Configuration,
    services: [any RegistrableRPCService],
    interceptors: [any ServerInterceptor] = [],
    logger: Logger = Logger(label: "rpc.server")
  ) {
    self.configuration = configuration
    var router = RPCRouter()
    for service in services { router.register(service) }
    self.router = router
    self.interceptors = interceptors
    self.logger = logger
    self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
    var busyPollers: [ObjectIdentifier: EventLoopBusyPoller] = [:]
    if let window = configuration.busyPollWindow, window > .zero {
      for loop in self.group.makeIterator() {
        busyPollers[ObjectIdentifier(loop)] = EventLoopBusyPoller(eventLoop: loop, window: window)
      }
    }
    self.busyPollers = busyPollers
  }

  /// The router holding every registered method.
  public var methods: [MethodDescriptor] { self.router.descriptors }

  /// Binds the listening socket and starts accepting connections.
  ///
  /// - Returns: the bound address (with the chosen port when configured with `0`).
  @discardableResult
  public func start() async throws -> SocketAddress {
    let configuration = self.configuration
    for poller in self.busyPollers.values { try await poller.start() }
    let handlerConfiguration = ServerConnectionHandler.Configuration(
      router: self.router,
      interceptors: self.interceptors,
      maxReceiveMessageBytes: configuration.maxReceiveMessageBytes,
      settings: NGHTTP2Settings(
        maxConcurrentStreams: configuration.maxConcurrentStreams,
        maxHeaderListSize: configuration.maxHeaderListBytes),
      logger: self.logger,
      handshakeTimeout: TimeAmount(configuration.handshakeTimeout),
      eventLoopUnaryHandler: configuration.eventLoopUnaryHandler,
      busyPollers: self.busyPollers)
    let handlerConfig = UncheckedSendableBox(handlerConfiguration)
    let connections = self.connections
    let maxConnections = configuration.maxConnections
    let logger = self.logger
    let channel = try await ServerBootstrap(group: self.group)
      .serverChannelOption(.backlog, value: 1024)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(.allowRemoteHalfClosure, value: true)
      .childChannelInitializer { channel in
        let admitted = connections.open.withLock { open -> Bool in
          guard open.count < maxConnections else { return false }
          open[ObjectIdentifier(channel)] = channel
          return true
        }
        guard admitted else {
          logger.warning("Connection limit reached; closing a new connection", metadata: ["server.max_connections": "\(maxConnections)"])
          return channel.close()
        }
        channel.closeFuture.whenComplete { _ in
          _ = connections.open.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        return channel.eventLoop.makeCompletedFuture {
          let handler = try ServerConnectionHandler(configuration: handlerConfig.value)
          try channel.pipeline.syncOperations.addHandler(handler)
        }
      }
      .bind(host: configuration.host, port: configuration.port)
      .get()
    let accepted = self.state.withLock { state -> Bool in
      guard case .idle = state else { return false }
      state = .running(channel)
      return true
    }
    guard accepted else {
      try? await channel.close()
      throw RPCError(code: .failedPrecondition, message: "The server was already started.")
    }
    guard let address = channel.localAddress else {
      throw RPCError(code: .internal, message: "The listening socket has no address.")
    }
    return address
  }

  /// Starts the server if needed and serves until ``shutDown()`` is called or the calling
  /// task is cancelled.
  public func serve() async throws {
    let needsStart = self.state.withLock { state in
      if case .idle = state { return true }
      return false
    }
    if needsStart { try await self.start() }
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let alreadyStopped = self.state.withLock { state -> Bool in
          if case .stopped = state { return true }
          self.stopped.withLock { $0.append(continuation) }
          return false
        }
        if alreadyStopped { continuation.resume() }
      }
    } onCancel: {
      Task { await self.shutDown() }
    }
  }

  /// The number of open client connections.
  public var connectionCount: Int { self.connections.open.withLock { $0.count } }

  /// Stops gracefully: stops accepting connections, sends GOAWAY on every open one, lets
  /// in-flight calls finish for up to `gracePeriod`, then closes what is left and releases the
  /// server's threads.
  public func shutDown(gracePeriod: Duration = .seconds(10)) async {
    let channel = self.state.withLock { state -> (any Channel)? in
      defer { state = .stopped }
      if case .running(let channel) = state { return channel }
      return nil
    }
    try? await channel?.close()
    let open = self.connections.open.withLock { Array($0.values) }
    for connection in open {
      connection.pipeline.fireUserInboundEventTriggered(ServerConnectionHandler.GracefulShutdownEvent())
    }
    let deadline = ContinuousClock.now.advanced(by: gracePeriod)
    while self.connectionCount > 0 && ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(20))
    }
    for connection in self.connections.open.withLock({ Array($0.values) }) {
      try? await connection.close()
    }
    for poller in self.busyPollers.values { await poller.stop() }
    try? await self.group.shutdownGracefully()
    let waiters = self.stopped.withLock { waiters in
      defer { waiters = [] }
      return waiters
    }
    for waiter in waiters { waiter.resume() }
  }
}

/// The server's open connections, shared with the accept path.
private final class ConnectionRegistry: Sendable {
  let open = Mutex<[ObjectIdentifier: any Channel]>([:])
}

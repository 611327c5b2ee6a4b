public import NIOCore
internal import NIOPosix
public import RPCCore
internal import Synchronization

/// A client transport over one HTTP/2 cleartext connection, built on nghttp2.
///
/// Calls multiplex over a single connection that is opened on first use and re-opened after
/// it closes or the server sends GOAWAY. Share one transport (through an ``RPCClient``) between
/// all callers of a server.
public final class HTTP2ClientTransport: ClientTransport {
  /// Client settings.
  public struct Configuration: Sendable {
    /// The largest response message accepted. Default 4 MiB.
    public var maxReceiveMessageBytes: Int
    /// How long connecting may take. Default 10 s.
    public var connectTimeout: Duration
    /// Pings sent on an idle connection to detect a dead peer: a PING every `interval` while
    /// no call is open; the connection closes when the ACK takes longer than `timeout`.
    /// Default `nil` (off), as servers commonly refuse pings more often than every few minutes.
    public var keepalive: (interval: Duration, timeout: Duration)?

    public init(
      maxReceiveMessageBytes: Int = 4 << 20,
      connectTimeout: Duration = .seconds(10),
      keepalive: (interval: Duration, timeout: Duration)? = nil
    ) {
      self.maxReceiveMessageBytes = maxReceiveMessageBytes
      self.connectTimeout = connectTimeout
      self.keepalive = keepalive
    }
  }

  private struct Connection: @unchecked Sendable {
    // Safe: the handler is only used on `channel.eventLoop` (see ClientStreamHandle).
    let channel: any Channel
    let handler: ClientConnectionHandler
  }

  private enum State {
    case idle
    case connecting(EventLoopFuture<Connection>)
    case ready(Connection)
    case closed
  }

  public let host: String
  public let port: Int
  public let configuration: Configuration
  private let group: any EventLoopGroup
  private let state = Mutex<State>(.idle)

  /// Creates a transport to `host:port`. Nothing connects until the first call.
  public init(
    host: String,
    port: Int,
    configuration: Configuration = Configuration(),
    eventLoopGroup: (any EventLoopGroup)? = nil
  ) {
    self.host = host
    self.port = port
    self.configuration = configuration
    self.group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
  }

  public func withStream<Result: Sendable>(
    descriptor: MethodDescriptor,
    metadata: Metadata,
    options: CallOptions,
    _ body: (any ClientCallStream) async throws -> Result
  ) async throws -> Result {
    let connection = try await self.connection()
    let handler = UncheckedSendableBox(connection.handler)
    let eventLoop = connection.channel.eventLoop
    let key: Int
    if eventLoop.inEventLoop {
      // Already on the connection's loop (a proxy's handler task pinned there): no hop.
      key = try handler.value.makeStream(path: descriptor.path, metadata: metadata, options: options)
    } else {
      key = try await eventLoop.submit {
        try handler.value.makeStream(path: descriptor.path, metadata: metadata, options: options)
      }.get()
    }
    let stream = ClientStreamHandle(
      connection: handler, key: key, eventLoop: eventLoop,
      compressesRequests: options.compression == .gzip)
    do {
      let result = try await withTaskCancellationHandler {
        try await body(stream)
      } onCancel: {
        eventLoop.execute {
          handler.value.cancel(key: key, error: RPCError(code: .cancelled, message: "The call was cancelled."))
        }
      }
      eventLoop.execute { handler.value.release(key: key) }
      return result
    } catch {
      eventLoop.execute { handler.value.release(key: key) }
      if let rpcError = error as? RPCError { throw rpcError }
      if error is CancellationError {
        throw RPCError(code: .cancelled, message: "The call was cancelled.", cause: error)
      }
      throw error
    }
  }

  /// The open connection's handler when it lives on the current event loop.
  func readyHandlerOnCurrentEventLoop() -> ClientConnectionHandler? {
    let connection = self.state.withLock { state -> Connection? in
      if case .ready(let connection) = state { return connection }
      return nil
    }
    guard let connection, connection.channel.eventLoop.inEventLoop else { return nil }
    return connection.handler
  }

  /// Starts opening the connection when none is open or opening, without waiting for it. A
  /// caller that found no connection ready on its loop (``canStartUnaryOnCurrentEventLoop``)
  /// and went another way makes sure the next call finds one.
  public func startConnectingIfIdle() {
    self.state.withLock { state in
      if case .idle = state { state = .connecting(self.connect()) }
    }
  }

  /// Closes the connection; later calls fail with `UNAVAILABLE`.
  public func close() async {
    let channel = self.state.withLock { state -> (any Channel)? in
      defer { state = .closed }
      if case .ready(let connection) = state { return connection.channel }
      return nil
    }
    try? await channel?.close()
  }

  private func connection() async throws -> Connection {
    let future = self.state.withLock { state -> EventLoopFuture<Connection>? in
      switch state {
      case .ready(let connection):
        // `isUsable` is only read here as a hint; the handler re-checks on its loop.
        return connection.channel.eventLoop.makeSucceededFuture(connection)
      case .connecting(let future):
        return future
      case .idle:
        let future = self.connect()
        state = .connecting(future)
        return future
      case .closed:
        return nil
      }
    }
    guard let future else {
      throw RPCError(code: .unavailable, message: "The client transport is closed.")
    }
    do {
      return try await future.get()
    } catch let error as RPCError {
      throw error
    } catch {
      throw RPCError(code: .unavailable, message: "Could not connect to \(self.host):\(self.port): \(error)", cause: error)
    }
  }

  private func connect() -> EventLoopFuture<Connection> {
    let authority = "\(self.host):\(self.port)"
    let maxReceive = self.configuration.maxReceiveMessageBytes
    let timeout = TimeAmount(self.configuration.connectTimeout)
    let keepalive = self.configuration.keepalive.map { (TimeAmount($0.interval), TimeAmount($0.timeout)) }
    let future = ClientBootstrap(group: self.group)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .connectTimeout(timeout)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let handler = try ClientConnectionHandler(
            authority: authority, maxReceiveMessageBytes: maxReceive, keepalive: keepalive)
          try channel.pipeline.syncOperations.addHandler(handler)
        }
      }
      .connect(host: self.host, port: self.port)
      .flatMapThrowing { channel -> Connection in
        let handler = try channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
        return Connection(channel: channel, handler: handler)
      }
    future.whenComplete { result in
      switch result {
      case .success(let connection):
        let box = UncheckedSendableBox(connection)
        connection.handler.onClose = { [weak self] in self?.connectionEnded(box.value.channel) }
        self.state.withLock { state in
          if case .connecting = state { state = .ready(connection) }
        }
        if connection.handler.isClosed || !connection.channel.isActive {
          self.connectionEnded(connection.channel)
        }
      case .failure:
        self.state.withLock { state in
          if case .connecting = state { state = .idle }
        }
      }
    }
    return future
  }

  /// Forgets a connection that closed or is draining so the next call opens a new one.
  private func connectionEnded(_ channel: any Channel) {
    self.state.withLock { state in
      if case .ready(let connection) = state, connection.channel === channel {
        state = .idle
      }
    }
  }
}

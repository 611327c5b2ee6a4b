public import NIOCore
public import RPCCore

/// Serves unary calls on their connection's event loop without a task per call: the fast path
/// of a proxy, which only moves bytes between two connections of the same loop.
///
/// A call it declines takes the ordinary route (a task running the server's interceptors and
/// the registered handler), so the handler only needs to take the common case and can leave
/// everything unusual to the full path.
public protocol EventLoopUnaryHandler: Sendable {
  /// Called on the connection's event loop once the call's single request message has
  /// arrived. Returns `false` to decline the call; `true` means the handler owns it and ends
  /// it with ``EventLoopUnaryCall/respond(headers:message:trailers:)`` or
  /// ``EventLoopUnaryCall/fail(_:trailers:)``, on ``EventLoopUnaryCall/eventLoop``.
  func handle(_ call: EventLoopUnaryCall) -> Bool
}

/// One unary call handed to an ``EventLoopUnaryHandler``. Event loop only.
public final class EventLoopUnaryCall {
  /// The method called.
  public let descriptor: MethodDescriptor
  /// The request metadata (no pseudo-headers, no `grpc-` reserved headers).
  public let metadata: Metadata
  /// The request message's protobuf bytes (decompressed when it arrived compressed).
  public let request: ArraySlice<UInt8>
  /// When the client stops waiting, from `grpc-timeout`.
  public let deadline: ContinuousClock.Instant?
  /// The client's address, such as `ipv4:127.0.0.1:53412`.
  public let remotePeer: String
  /// The loop the call lives on; every method of the call must be used on it.
  public let eventLoop: any EventLoop
  /// Runs once, on the loop, when the client cancels the call or the connection closes
  /// before the call ended.
  public var onCancel: (() -> Void)?
  /// Whether the call has ended (answered, failed or cancelled).
  public private(set) var isEnded = false

  /// Held strongly while the call runs and dropped when it ends (a weak reference would move
  /// the connection handler's reference count to a side table and slow every retain of it).
  /// The cycle through the connection's stream table lasts at most as long as the call.
  private var connection: ServerConnectionHandler?
  private let streamID: Int32

  init(
    descriptor: MethodDescriptor, metadata: Metadata, request: ArraySlice<UInt8>,
    deadline: ContinuousClock.Instant?, remotePeer: String, eventLoop: any EventLoop,
    connection: ServerConnectionHandler, streamID: Int32
  ) {
    self.descriptor = descriptor
    self.metadata = metadata
    self.request = request
    self.deadline = deadline
    self.remotePeer = remotePeer
    self.eventLoop = eventLoop
    self.connection = connection
    self.streamID = streamID
  }

  /// Answers the call: response headers, the one response message (protobuf bytes), and an
  /// OK status with `trailers`.
  public func respond(headers: Metadata, message: ArraySlice<UInt8>, trailers: Metadata) {
    self.eventLoop.preconditionInEventLoop()
    guard !self.isEnded else { return }
    self.isEnded = true
    self.onCancel = nil
    guard let connection else { return }
    self.connection = nil
    connection.sendMetadata(streamID: self.streamID, metadata: headers)
    _ = try? connection.enqueue(streamID: self.streamID, message: .payload(message))
    connection.finish(streamID: self.streamID, status: .ok, trailers: trailers)
  }

  /// Ends the call with `status` (not OK) and `trailers`, as a trailers-only response when no
  /// headers went out.
  public func fail(_ status: Status, trailers: Metadata) {
    self.eventLoop.preconditionInEventLoop()
    guard !self.isEnded else { return }
    self.isEnded = true
    self.onCancel = nil
    let connection = self.connection
    self.connection = nil
    connection?.finish(streamID: self.streamID, status: status, trailers: trailers)
  }

  /// The client went away: runs ``onCancel`` once.
  func cancelled() {
    guard !self.isEnded else { return }
    self.isEnded = true
    self.connection = nil
    let onCancel = self.onCancel
    self.onCancel = nil
    onCancel?()
  }
}

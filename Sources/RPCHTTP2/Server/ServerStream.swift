internal import NIOCore
internal import RPCCore

/// The state of one server stream: request headers and messages in, response out.
///
/// Owned by its ``ServerConnectionHandler`` and only touched on the connection's event loop.
final class ServerStream {
  let id: Int32

  // Request head, filled while HEADERS arrive.
  var method: String?
  var path: String?
  var contentType: String?
  var timeout: String?
  /// When the caller stops waiting: `grpc-timeout` counted from the request's headers.
  var deadline: ContinuousClock.Instant?
  /// Ends the call at its deadline while the request is still arriving (before a handler
  /// that waits for the whole request has started).
  var deadlineTimer: Scheduled<Void>?
  var encoding: String?
  var acceptsGzip = false
  /// Shared with the handler's context; made when a handler task starts (a call served on the
  /// event loop never needs one).
  var compression: ServerMessageCompression?
  var metadata = Metadata()
  var headersComplete = false
  /// The request header list's size as RFC 9113 6.5.2 counts it (name + value + 32 per field),
  /// and whether it passed the advertised SETTINGS_MAX_HEADER_LIST_SIZE (nghttp2 does not
  /// enforce it; past it, fields are no longer kept).
  var headerListBytes = 0
  var headerListTooLarge = false

  // Request body.
  var route: RPCRouter.Method?
  var deframer: GRPCMessageDeframer
  var inbound = MessageQueue<(bytes: ArraySlice<UInt8>, compressed: Bool)>()
  var inboundClosed = false
  var receiveWaiter: CheckedContinuation<(bytes: ArraySlice<UInt8>, compressed: Bool)?, any Error>?
  /// Received bytes not yet returned to the stream's flow-control window: they arrived while
  /// complete messages were waiting for the handler.
  var unconsumedBytes = 0

  // Handler.
  var task: Task<Void, Never>?
  /// The call when an ``EventLoopUnaryHandler`` took it instead of a task.
  var loopCall: EventLoopUnaryCall?
  var handlerStarted = false

  // Response.
  var headersSubmitted = false
  /// Set when the response headers declared `grpc-encoding: gzip`.
  var compressesResponses = false
  var outbound = OutboundMessages()
  var dataDeferred = false
  var finished = false
  /// The status and trailers of a finished response whose messages are still going out.
  var pendingTrailers: (status: Status, trailers: Metadata)?
  var writeGate = StreamWriteGate()
  /// Set once the stream is closed (by either side); every later operation is a no-op.
  var closed = false

  init(id: Int32, maxMessageBytes: Int) {
    self.id = id
    self.deframer = GRPCMessageDeframer(maxMessageBytes: maxMessageBytes)
  }

  var hasBufferedMessage: Bool { !self.inbound.isEmpty }

  func popMessage() -> (bytes: ArraySlice<UInt8>, compressed: Bool)? { self.inbound.pop() }

  func peekMessage() -> (bytes: ArraySlice<UInt8>, compressed: Bool)? { self.inbound.peek }

  var bufferedMessageCount: Int { self.inbound.count }
}

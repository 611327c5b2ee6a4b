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
  var encoding: String?
  var acceptsGzip = false
  let compression = ServerMessageCompression()
  var metadata = Metadata()
  var headersComplete = false

  // Request body.
  var route: RPCRouter.Method?
  var deframer: GRPCMessageDeframer
  var inbound: [(bytes: ArraySlice<UInt8>, compressed: Bool)] = []
  var inboundHead = 0
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
  var trailers: HeaderBlock?
  var writeGate = StreamWriteGate()
  /// Set once the stream is closed (by either side); every later operation is a no-op.
  var closed = false

  init(id: Int32, maxMessageBytes: Int) {
    self.id = id
    self.deframer = GRPCMessageDeframer(maxMessageBytes: maxMessageBytes)
  }

  var hasBufferedMessage: Bool { self.inboundHead < self.inbound.count }

  func popMessage() -> (bytes: ArraySlice<UInt8>, compressed: Bool)? {
    guard self.inboundHead < self.inbound.count else { return nil }
    let message = self.inbound[self.inboundHead]
    self.inboundHead += 1
    if self.inboundHead == self.inbound.count {
      self.inbound.removeAll(keepingCapacity: true)
      self.inboundHead = 0
    }
    return message
  }

  func peekMessage() -> (bytes: ArraySlice<UInt8>, compressed: Bool)? {
    self.inboundHead < self.inbound.count ? self.inbound[self.inboundHead] : nil
  }

  var bufferedMessageCount: Int { self.inbound.count - self.inboundHead }
}

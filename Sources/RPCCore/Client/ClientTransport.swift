/// A transport that can open client streams: one HTTP/2 connection or a pool of them.
public protocol ClientTransport: Sendable {
  /// Opens a stream for `descriptor`, runs `body` with it, and closes the stream (cancelling it
  /// if `body` returns before the call ended).
  func withStream<Result: Sendable>(
    descriptor: MethodDescriptor,
    metadata: Metadata,
    options: CallOptions,
    _ body: (any ClientCallStream) async throws -> Result
  ) async throws -> Result
}

/// The transport's half of one client call.
public protocol ClientCallStream: Sendable {
  /// Sends one request message; the request headers go first on the first call. With
  /// `endOfStream` the client half-closes after the message.
  func send<Message: RPCMessage>(_ message: Message, endOfStream: Bool) async throws
  /// Half-closes the request stream.
  func finishSending() async throws
  /// Waits for the response headers and returns their metadata.
  ///
  /// - Throws: ``RPCError`` when the server answered with a trailers-only error or the stream
  ///   failed.
  func receiveMetadata() async throws -> Metadata
  /// Receives the next response message; `nil` after an OK status.
  ///
  /// - Throws: ``RPCError`` for a non-OK status, a stream failure or a message that does not
  ///   decode.
  func receive<Message: RPCMessage>(_ type: Message.Type) async throws -> Message?
  /// The trailing metadata; waits for the end of the call.
  func trailingMetadata() async -> Metadata
}

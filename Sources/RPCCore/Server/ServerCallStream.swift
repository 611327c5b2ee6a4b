/// The transport's half of one server call.
///
/// A transport implements this for each accepted stream and hands it to
/// ``RPCRouter/Method/run(stream:metadata:context:interceptors:)``, which runs the handler
/// against it. Implementations must be safe to call from any task.
public protocol ServerCallStream: Sendable {
  /// Receives the next request message; `nil` once the client has half-closed.
  ///
  /// - Throws: ``RPCError`` when the bytes do not decode or the stream failed.
  func receive<Message: RPCMessage>(_ type: Message.Type) async throws -> Message?

  /// Sends the response headers carrying `metadata`. Does nothing if they were already sent.
  func sendMetadata(_ metadata: Metadata) async throws

  /// Sends one response message, sending the headers first if needed. Suspends while the
  /// peer's flow-control window is closed.
  func send<Message: RPCMessage>(_ message: Message) async throws

  /// Ends the call with `status` and trailing metadata, as a trailers-only response if no
  /// headers were sent. Later calls do nothing.
  func finish(status: Status, trailers: Metadata)
}

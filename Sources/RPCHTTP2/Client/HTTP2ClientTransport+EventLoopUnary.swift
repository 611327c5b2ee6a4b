public import RPCCore

/// The answer to a unary call: response headers, the response message's protobuf bytes and
/// the trailers of its OK status.
public struct UnaryResponse: Sendable {
  public var headers: Metadata
  public var message: ArraySlice<UInt8>
  public var trailers: Metadata

  public init(headers: Metadata, message: ArraySlice<UInt8>, trailers: Metadata) {
    self.headers = headers
    self.message = message
    self.trailers = trailers
  }
}

/// A unary call started with ``HTTP2ClientTransport/startUnaryOnCurrentEventLoop``; event loop
/// only.
public struct EventLoopClientCall {
  let connection: ClientConnectionHandler
  let key: Int

  /// Cancels the call (RST_STREAM CANCEL) unless it has ended; its completion then sees
  /// `error`.
  public func cancel(_ error: RPCError = RPCError(code: .cancelled, message: "The call was cancelled.")) {
    self.connection.cancel(key: self.key, error: error)
  }
}

extension HTTP2ClientTransport {
  /// Whether ``startUnaryOnCurrentEventLoop(descriptor:metadata:options:request:completion:)``
  /// can start a call from here now.
  public var canStartUnaryOnCurrentEventLoop: Bool {
    self.readyHandlerOnCurrentEventLoop()?.isUsable ?? false
  }

  /// Starts a unary call without a task when this transport's connection is open and lives on
  /// the current event loop: `request` (protobuf bytes) goes out at once and `completion` runs
  /// on this loop exactly once, possibly before this returns. A failed call's error carries
  /// the server's trailers as its metadata.
  ///
  /// Returns `nil`, starting nothing, when called off that loop or while the transport has no
  /// open connection; ``withStream(descriptor:metadata:options:_:)`` connects and works from
  /// anywhere.
  public func startUnaryOnCurrentEventLoop(
    descriptor: MethodDescriptor, metadata: Metadata, options: CallOptions, request: ArraySlice<UInt8>,
    completion: @escaping (Result<UnaryResponse, RPCError>) -> Void
  ) -> EventLoopClientCall? {
    guard let handler = self.readyHandlerOnCurrentEventLoop(), handler.isUsable else { return nil }
    guard
      let key = handler.startUnary(
        path: descriptor.path, metadata: metadata, options: options, request: request, completion: completion)
    else { return nil }
    return EventLoopClientCall(connection: handler, key: key)
  }
}

/// Makes calls through a ``ClientTransport``, applying client interceptors.
///
/// Generated clients wrap an `RPCClient`; one client (and one transport) is meant to be shared
/// by every caller so that calls multiplex over the same connection.
public struct RPCClient: Sendable {
  /// The transport calls go through.
  public let transport: any ClientTransport
  /// Interceptors applied to every call, outermost first.
  public let interceptors: [any ClientInterceptor]

  public init(transport: any ClientTransport, interceptors: [any ClientInterceptor] = []) {
    self.transport = transport
    self.interceptors = interceptors
  }

  /// Makes a unary call.
  public func unary<Input: RPCMessage, Output: RPCMessage>(
    request: ClientRequest<Input>,
    descriptor: MethodDescriptor,
    options: CallOptions = .defaults
  ) async throws -> ClientResponse<Output> {
    try await self.intercepting(descriptor, request.metadata, options) { metadata, options in
      try await self.transport.withStream(
        descriptor: descriptor, metadata: metadata, options: options
      ) { stream in
        try await stream.send(request.message, endOfStream: true)
        return try await Self.receiveSingle(Output.self, from: stream)
      }
    }
  }

  /// Makes a client-streaming call.
  public func clientStreaming<Input: RPCMessage, Output: RPCMessage>(
    request: StreamingClientRequest<Input>,
    descriptor: MethodDescriptor,
    options: CallOptions = .defaults
  ) async throws -> ClientResponse<Output> {
    try await self.intercepting(descriptor, request.metadata, options) { metadata, options in
      try await self.transport.withStream(
        descriptor: descriptor, metadata: metadata, options: options
      ) { stream in
        try await Self.sendAll(request, to: stream)
        return try await Self.receiveSingle(Output.self, from: stream)
      }
    }
  }

  /// Makes a server-streaming call; `onResponse` consumes the responses.
  public func serverStreaming<Input: RPCMessage, Output: RPCMessage, Result: Sendable>(
    request: ClientRequest<Input>,
    descriptor: MethodDescriptor,
    options: CallOptions = .defaults,
    onResponse: @Sendable (StreamingClientResponse<Output>) async throws -> Result
  ) async throws -> Result {
    try await self.intercepting(descriptor, request.metadata, options) { metadata, options in
      try await self.transport.withStream(
        descriptor: descriptor, metadata: metadata, options: options
      ) { stream in
        try await stream.send(request.message, endOfStream: true)
        return try await onResponse(Self.streamingResponse(Output.self, from: stream))
      }
    }
  }

  /// Makes a bidirectional-streaming call; requests are produced concurrently with
  /// `onResponse` consuming the responses.
  public func bidirectionalStreaming<Input: RPCMessage, Output: RPCMessage, Result: Sendable>(
    request: StreamingClientRequest<Input>,
    descriptor: MethodDescriptor,
    options: CallOptions = .defaults,
    onResponse: @Sendable (StreamingClientResponse<Output>) async throws -> Result
  ) async throws -> Result {
    try await self.intercepting(descriptor, request.metadata, options) { metadata, options in
      try await self.transport.withStream(
        descriptor: descriptor, metadata: metadata, options: options
      ) { stream in
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask { try await Self.sendAll(request, to: stream) }
          let result = try await onResponse(Self.streamingResponse(Output.self, from: stream))
          try await group.waitForAll()
          return result
        }
      }
    }
  }

  private func intercepting<Result: Sendable>(
    _ descriptor: MethodDescriptor,
    _ metadata: Metadata,
    _ options: CallOptions,
    _ call: (Metadata, CallOptions) async throws -> Result
  ) async throws -> Result {
    var options = options
    options.timeout = try RPCDeadline.effectiveTimeout(options.timeout)
    let context = ClientContext(descriptor: descriptor, options: options)
    return try await Self.intercepting(self.interceptors[...], metadata, context) {
      metadata, context in
      try await call(metadata, context.options)
    }
  }

  private static func intercepting<Result: Sendable>(
    _ interceptors: ArraySlice<any ClientInterceptor>,
    _ metadata: Metadata,
    _ context: ClientContext,
    _ call: (Metadata, ClientContext) async throws -> Result
  ) async throws -> Result {
    guard let first = interceptors.first else { return try await call(metadata, context) }
    return try await first.intercept(metadata: metadata, context: context) { metadata, context in
      try await Self.intercepting(interceptors.dropFirst(), metadata, context, call)
    }
  }

  private static func sendAll<Input: RPCMessage>(
    _ request: StreamingClientRequest<Input>, to stream: any ClientCallStream
  ) async throws {
    let writer = RPCWriter<Input>(writingEach: { message in try await stream.send(message, endOfStream: false) })
    try await request.producer(writer)
    try await stream.finishSending()
  }

  private static func receiveSingle<Output: RPCMessage>(
    _ type: Output.Type, from stream: any ClientCallStream
  ) async throws -> ClientResponse<Output> {
    let metadata = try await stream.receiveMetadata()
    guard let message = try await stream.receive(Output.self) else {
      throw RPCError(code: .unimplemented, message: "Expected exactly one response message, got none.")
    }
    if try await stream.receive(Output.self) != nil {
      throw RPCError(code: .unimplemented, message: "Expected exactly one response message, got several.")
    }
    let trailers = await stream.trailingMetadata()
    return ClientResponse(message: message, metadata: metadata, trailingMetadata: trailers)
  }

  private static func streamingResponse<Output: RPCMessage>(
    _ type: Output.Type, from stream: any ClientCallStream
  ) async throws -> StreamingClientResponse<Output> {
    let metadata = try await stream.receiveMetadata()
    return StreamingClientResponse(
      metadata: metadata,
      messages: RPCAsyncSequence(wrapping: ClientStreamMessages<Output>(stream: stream)),
      trailingMetadata: { await stream.trailingMetadata() }
    )
  }
}

private struct ClientStreamMessages<Message: RPCMessage>: AsyncSequence, Sendable {
  let stream: any ClientCallStream

  struct AsyncIterator: AsyncIteratorProtocol {
    let stream: any ClientCallStream
    mutating func next() async throws -> Message? { try await self.stream.receive(Message.self) }
  }

  func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self.stream) }
}

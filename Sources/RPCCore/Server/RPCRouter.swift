/// A service whose methods can be registered with a server's router. Generated service
/// protocols conform to it.
public protocol RegistrableRPCService: Sendable {
  /// Adds every method of the service to `router`.
  func registerMethods(with router: inout RPCRouter)

  /// The proto files that declare the service, as serialized `FileDescriptorProto`s with their
  /// dependencies, for server reflection. Generated services give their module's files;
  /// the default is none.
  var protoFiles: [(name: String, serialized: [UInt8])] { get }
}

extension RegistrableRPCService {
  public var protoFiles: [(name: String, serialized: [UInt8])] { [] }
}

/// Maps `:path`s to the handlers that serve them.
public struct RPCRouter: Sendable {
  /// A registered method: its kind and a type-erased handler. A class, so that handing it to
  /// each call is one reference, not a copy of its fields.
  public final class Method: Sendable {
    /// The method's descriptor.
    public let descriptor: MethodDescriptor
    /// How many messages flow each way.
    public let kind: RPCKind
    fileprivate let body: @Sendable (any ServerCallStream, Metadata, ServerContext) async throws -> Metadata

    fileprivate init(
      descriptor: MethodDescriptor, kind: RPCKind,
      body: @escaping @Sendable (any ServerCallStream, Metadata, ServerContext) async throws -> Metadata
    ) {
      self.descriptor = descriptor
      self.kind = kind
      self.body = body
    }

    /// Runs the call to completion: interceptors in order, then the handler, then `finish`.
    ///
    /// Every error is mapped to a status here, in one place: ``RPCError`` and
    /// ``RPCErrorConvertible`` keep theirs, anything else becomes `UNKNOWN`. When the context
    /// carries a deadline, the handler is cancelled once it passes and the call ends with
    /// `DEADLINE_EXCEEDED`.
    public func run(
      stream: any ServerCallStream,
      metadata: Metadata,
      context: ServerContext,
      interceptors: [any ServerInterceptor]
    ) async {
      do {
        let trailers: Metadata
        if let deadline = context.deadline {
          trailers = try await withDeadline(deadline) {
            try await RPCDeadline.$current.withValue(deadline) {
              try await self.intercepted(stream, metadata, context, interceptors)
            }
          }
        } else {
          trailers = try await self.intercepted(stream, metadata, context, interceptors)
        }
        stream.finish(status: .ok, trailers: trailers)
      } catch {
        let rpcError = RPCError(mapping: error)
        stream.finish(status: Status(rpcError), trailers: rpcError.metadata)
      }
    }

    private func intercepted(
      _ stream: any ServerCallStream, _ metadata: Metadata, _ context: ServerContext,
      _ interceptors: [any ServerInterceptor]
    ) async throws -> Metadata {
      if interceptors.isEmpty { return try await self.body(stream, metadata, context) }
      return try await Self.intercepting(interceptors[...], metadata: metadata, context: context) {
        metadata, context in
        try await self.body(stream, metadata, context)
      }
    }

    private static func intercepting(
      _ interceptors: ArraySlice<any ServerInterceptor>,
      metadata: Metadata,
      context: ServerContext,
      handler: (Metadata, ServerContext) async throws -> Metadata
    ) async throws -> Metadata {
      guard let first = interceptors.first else {
        return try await handler(metadata, context)
      }
      return try await first.intercept(metadata: metadata, context: context) { metadata, context in
        try await Self.intercepting(
          interceptors.dropFirst(), metadata: metadata, context: context, handler: handler)
      }
    }
  }

  private var methods: [String: Method] = [:]

  public init() {}

  /// The method serving `path`, if any.
  public func method(forPath path: String) -> Method? {
    self.methods[path]
  }

  /// Every registered method's descriptor.
  public var descriptors: [MethodDescriptor] {
    self.methods.values.map(\.descriptor)
  }

  /// Whether a method of `service` is registered.
  public func hasService(_ service: String) -> Bool {
    self.methods.values.contains { $0.descriptor.service == service }
  }

  /// Adds every method of `service`.
  public mutating func register(_ service: any RegistrableRPCService) {
    service.registerMethods(with: &self)
  }

  /// Registers a method whose handler works on the call stream itself, such as a proxy that
  /// forwards ``RawMessage``s. The handler returns the trailing metadata of an OK end, or
  /// throws the error the call ends with.
  public mutating func registerStreamHandler(
    _ descriptor: MethodDescriptor,
    kind: RPCKind,
    handler: @escaping @Sendable (any ServerCallStream, Metadata, ServerContext) async throws -> Metadata
  ) {
    self.methods[descriptor.path] = Method(descriptor: descriptor, kind: kind, body: handler)
  }

  /// Registers a unary method.
  public mutating func registerUnary<Input: RPCMessage, Output: RPCMessage>(
    _ descriptor: MethodDescriptor,
    input: Input.Type,
    output: Output.Type,
    handler: @escaping @Sendable (ServerRequest<Input>, ServerContext) async throws ->
      ServerResponse<Output>
  ) {
    self.methods[descriptor.path] = Method(descriptor: descriptor, kind: .unary) {
      stream, metadata, context in
      let message = try await Self.receiveSingle(Input.self, from: stream)
      let response = try await handler(ServerRequest(metadata: metadata, message: message), context)
      try await stream.sendMetadata(response.metadata)
      try await stream.send(response.message)
      return response.trailingMetadata
    }
  }

  /// Registers a server-streaming method.
  public mutating func registerServerStreaming<Input: RPCMessage, Output: RPCMessage>(
    _ descriptor: MethodDescriptor,
    input: Input.Type,
    output: Output.Type,
    handler: @escaping @Sendable (ServerRequest<Input>, ServerContext) async throws ->
      StreamingServerResponse<Output>
  ) {
    self.methods[descriptor.path] = Method(descriptor: descriptor, kind: .serverStreaming) {
      stream, metadata, context in
      let message = try await Self.receiveSingle(Input.self, from: stream)
      let response = try await handler(ServerRequest(metadata: metadata, message: message), context)
      return try await Self.produce(response, into: stream)
    }
  }

  /// Registers a client-streaming method.
  public mutating func registerClientStreaming<Input: RPCMessage, Output: RPCMessage>(
    _ descriptor: MethodDescriptor,
    input: Input.Type,
    output: Output.Type,
    handler: @escaping @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
      ServerResponse<Output>
  ) {
    self.methods[descriptor.path] = Method(descriptor: descriptor, kind: .clientStreaming) {
      stream, metadata, context in
      let request = StreamingServerRequest(
        metadata: metadata, messages: Self.messages(Input.self, from: stream))
      let response = try await handler(request, context)
      try await stream.sendMetadata(response.metadata)
      try await stream.send(response.message)
      return response.trailingMetadata
    }
  }

  /// Registers a bidirectional-streaming method.
  public mutating func registerBidirectionalStreaming<Input: RPCMessage, Output: RPCMessage>(
    _ descriptor: MethodDescriptor,
    input: Input.Type,
    output: Output.Type,
    handler: @escaping @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
      StreamingServerResponse<Output>
  ) {
    self.methods[descriptor.path] = Method(descriptor: descriptor, kind: .bidirectionalStreaming) {
      stream, metadata, context in
      let request = StreamingServerRequest(
        metadata: metadata, messages: Self.messages(Input.self, from: stream))
      let response = try await handler(request, context)
      return try await Self.produce(response, into: stream)
    }
  }

  private static func receiveSingle<Input: RPCMessage>(
    _ type: Input.Type, from stream: any ServerCallStream
  ) async throws -> Input {
    guard let message = try await stream.receive(Input.self) else {
      throw RPCError(code: .unimplemented, message: "Expected exactly one request message, got none.")
    }
    return message
  }

  private static func messages<Input: RPCMessage>(
    _ type: Input.Type, from stream: any ServerCallStream
  ) -> RPCAsyncSequence<Input> {
    RPCAsyncSequence(wrapping: ServerStreamMessages<Input>(stream: stream))
  }

  private static func produce<Output: RPCMessage>(
    _ response: StreamingServerResponse<Output>, into stream: any ServerCallStream
  ) async throws -> Metadata {
    try await stream.sendMetadata(response.metadata)
    let writer = RPCWriter<Output>(writingEach: { message in try await stream.send(message) })
    return try await response.producer(writer)
  }
}

private struct ServerStreamMessages<Message: RPCMessage>: AsyncSequence, Sendable {
  let stream: any ServerCallStream

  struct AsyncIterator: AsyncIteratorProtocol {
    let stream: any ServerCallStream
    mutating func next() async throws -> Message? {
      try await self.stream.receive(Message.self)
    }
  }

  func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self.stream) }
}

/// Runs `body`, cancelling it and throwing `DEADLINE_EXCEEDED` once `deadline` passes.
package func withDeadline<Result: Sendable>(
  _ deadline: ContinuousClock.Instant?,
  _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
  guard let deadline else { return try await body() }
  return try await withThrowingTaskGroup(of: Result?.self) { group in
    group.addTask { try await body() }
    group.addTask {
      try await Task.sleep(until: deadline, clock: .continuous)
      return nil
    }
    defer { group.cancelAll() }
    guard let first = try await group.next() else {
      throw RPCError(code: .internal, message: "Deadline race ended without a result.")
    }
    guard let result = first else {
      throw RPCError(code: .deadlineExceeded, message: "Deadline exceeded.")
    }
    return result
  }
}

/// A single request message and its metadata, as a server handler receives it.
public struct ServerRequest<Message: Sendable>: Sendable {
  /// Custom request metadata (reserved `grpc-` and HTTP/2 headers removed).
  public var metadata: Metadata
  /// The request message.
  public var message: Message

  public init(metadata: Metadata = [:], message: Message) {
    self.metadata = metadata
    self.message = message
  }
}

/// A stream of request messages and their metadata, as a server handler receives it.
public struct StreamingServerRequest<Message: Sendable>: Sendable {
  /// Custom request metadata.
  public var metadata: Metadata
  /// The request messages, in order; finishes when the client half-closes.
  public var messages: RPCAsyncSequence<Message>

  public init(metadata: Metadata = [:], messages: RPCAsyncSequence<Message>) {
    self.metadata = metadata
    self.messages = messages
  }
}

/// A single request message a client sends.
public struct ClientRequest<Message: Sendable>: Sendable {
  /// Custom metadata to send.
  public var metadata: Metadata
  /// The request message.
  public var message: Message

  public init(message: Message, metadata: Metadata = [:]) {
    self.metadata = metadata
    self.message = message
  }
}

/// A stream of request messages a client sends, produced by a closure.
public struct StreamingClientRequest<Message: Sendable>: Sendable {
  /// Custom metadata to send.
  public var metadata: Metadata
  /// Writes the request messages; the client half-closes when it returns.
  public var producer: @Sendable (RPCWriter<Message>) async throws -> Void

  public init(
    metadata: Metadata = [:],
    producer: @escaping @Sendable (RPCWriter<Message>) async throws -> Void
  ) {
    self.metadata = metadata
    self.producer = producer
  }
}

/// A single response message with initial and trailing metadata, as a handler returns it.
///
/// To fail the call, a handler throws ``RPCError`` instead of returning.
public struct ServerResponse<Message: Sendable>: Sendable {
  /// Initial metadata, sent in the response headers.
  public var metadata: Metadata
  /// The response message.
  public var message: Message
  /// Trailing metadata, sent with the status.
  public var trailingMetadata: Metadata

  public init(message: Message, metadata: Metadata = [:], trailingMetadata: Metadata = [:]) {
    self.metadata = metadata
    self.message = message
    self.trailingMetadata = trailingMetadata
  }
}

/// A stream of response messages, produced by a closure, as a handler returns it.
public struct StreamingServerResponse<Message: Sendable>: Sendable {
  /// Initial metadata, sent in the response headers before the first message.
  public var metadata: Metadata
  /// Writes the response messages and returns the trailing metadata. Throwing ends the call
  /// with the thrown error's status.
  public var producer: @Sendable (RPCWriter<Message>) async throws -> Metadata

  public init(
    metadata: Metadata = [:],
    producer: @escaping @Sendable (RPCWriter<Message>) async throws -> Metadata
  ) {
    self.metadata = metadata
    self.producer = producer
  }
}

/// The single response a client receives.
public struct ClientResponse<Message: Sendable>: Sendable {
  /// Initial metadata from the response headers.
  public var metadata: Metadata
  /// The response message.
  public var message: Message
  /// Trailing metadata received with the OK status.
  public var trailingMetadata: Metadata

  public init(message: Message, metadata: Metadata = [:], trailingMetadata: Metadata = [:]) {
    self.metadata = metadata
    self.message = message
    self.trailingMetadata = trailingMetadata
  }
}

/// A stream of responses a client receives.
public struct StreamingClientResponse<Message: Sendable>: Sendable {
  /// Initial metadata from the response headers.
  public var metadata: Metadata
  /// The response messages. Iteration finishes after an OK status and throws ``RPCError``
  /// for any other status.
  public var messages: RPCAsyncSequence<Message>
  private let trailers: @Sendable () async -> Metadata

  public init(
    metadata: Metadata,
    messages: RPCAsyncSequence<Message>,
    trailingMetadata: @escaping @Sendable () async -> Metadata
  ) {
    self.metadata = metadata
    self.messages = messages
    self.trailers = trailingMetadata
  }

  /// The trailing metadata; waits until the stream has ended.
  public func trailingMetadata() async -> Metadata {
    await self.trailers()
  }
}

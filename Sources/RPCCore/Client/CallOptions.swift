/// Per-call settings a client can choose.
public struct CallOptions: Sendable {
  /// How long the caller waits; sent as `grpc-timeout`. `nil` waits as long as the server takes.
  public var timeout: Duration?
  /// The largest response message accepted, in bytes; larger ones fail with
  /// `RESOURCE_EXHAUSTED`. `nil` uses the transport's limit (4 MiB by default).
  public var maxReceiveMessageBytes: Int?
  /// How request messages are compressed; `nil` (the default) sends them uncompressed.
  public var compression: CompressionAlgorithm?

  public init(
    timeout: Duration? = nil, maxReceiveMessageBytes: Int? = nil,
    compression: CompressionAlgorithm? = nil
  ) {
    self.compression = compression
    self.timeout = timeout
    self.maxReceiveMessageBytes = maxReceiveMessageBytes
  }

  /// No timeout and the transport's limits.
  public static var defaults: CallOptions { CallOptions() }
}

/// What a client interceptor knows about a call.
public struct ClientContext: Sendable {
  /// The method being called.
  public var descriptor: MethodDescriptor
  /// The options the call runs with; interceptors may change them.
  public var options: CallOptions

  public init(descriptor: MethodDescriptor, options: CallOptions) {
    self.descriptor = descriptor
    self.options = options
  }
}

/// Runs around every call a client makes: adds metadata (tokens, request ids), records
/// outcomes. `next` performs the call and returns when it has completed; it throws the
/// ``RPCError`` the call failed with.
public protocol ClientInterceptor: Sendable {
  func intercept<Result: Sendable>(
    metadata: Metadata,
    context: ClientContext,
    next: (Metadata, ClientContext) async throws -> Result
  ) async throws -> Result
}

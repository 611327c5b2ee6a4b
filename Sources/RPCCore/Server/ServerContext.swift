/// What a handler knows about the call it serves beyond its messages.
public struct ServerContext: Sendable {
  /// The method being called.
  public var descriptor: MethodDescriptor
  /// The peer's address, such as `ipv4:127.0.0.1:53412`.
  public var remotePeer: String
  /// The server's own address for this connection.
  public var localPeer: String
  /// When the caller stops waiting, from `grpc-timeout`; `nil` without one. The handler's task
  /// is cancelled once it passes.
  public var deadline: ContinuousClock.Instant?
  /// Compression of this call's messages: whether requests arrived compressed, and whether to
  /// compress responses.
  public let compression: ServerMessageCompression

  public init(
    descriptor: MethodDescriptor,
    remotePeer: String,
    localPeer: String,
    deadline: ContinuousClock.Instant? = nil,
    compression: ServerMessageCompression = ServerMessageCompression()
  ) {
    self.compression = compression
    self.descriptor = descriptor
    self.remotePeer = remotePeer
    self.localPeer = localPeer
    self.deadline = deadline
  }
}

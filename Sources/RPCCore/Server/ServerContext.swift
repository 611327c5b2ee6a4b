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

  public init(
    descriptor: MethodDescriptor,
    remotePeer: String,
    localPeer: String,
    deadline: ContinuousClock.Instant? = nil
  ) {
    self.descriptor = descriptor
    self.remotePeer = remotePeer
    self.localPeer = localPeer
    self.deadline = deadline
  }
}

/// What a handler knows about the call it serves beyond its messages.
///
/// Interceptors fill in what they learn (``caller``, ``clientAddress``, ``requestID``) and hand
/// the changed context to the next stage; the handler reads it from its `context` argument.
/// Only the deadline is also a task-local (`RPCDeadline.current`), so that outgoing calls
/// inherit it.
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
  /// Who is calling, once the authentication interceptor has verified the credential; `nil`
  /// for a public method called without one (and on servers without authentication).
  public var caller: Caller? {
    get { self.learned?.caller }
    set { self.learnedForWriting().caller = newValue }
  }
  /// The client's address (`127.0.0.1`), as the client-address interceptor worked it out
  /// (through a trusted proxy, the address that proxy saw); `nil` until one has run.
  public var clientAddress: String? {
    get { self.learned?.clientAddress }
    set { self.learnedForWriting().clientAddress = newValue }
  }
  /// The call's `x-request-id`, once an interceptor has settled it; `nil` before.
  public var requestID: String? {
    get { self.learned?.requestID }
    set { self.learnedForWriting().requestID = newValue }
  }

  /// What interceptors learned, behind one reference (copied on write): a server without
  /// interceptors never allocates it, and the context every call copies through the router
  /// and into its handler task stays one word larger instead of seven.
  private var learned: Learned?

  private final class Learned: @unchecked Sendable {
    // Safe: a `Learned` is mutated only while uniquely referenced (`learnedForWriting`), so a
    // shared one is never written.
    var caller: Caller?
    var clientAddress: String?
    var requestID: String?

    init(copying other: Learned?) {
      self.caller = other?.caller
      self.clientAddress = other?.clientAddress
      self.requestID = other?.requestID
    }
  }

  private mutating func learnedForWriting() -> Learned {
    if let learned = self.learned, isKnownUniquelyReferenced(&self.learned) { return learned }
    let copy = Learned(copying: self.learned)
    self.learned = copy
    return copy
  }

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

extension ServerContext {
  /// The caller of a method that needs a credential.
  ///
  /// The authentication interceptor has already refused calls without one (and callers below
  /// the method's role), so this throws only where a handler runs without that interceptor:
  /// `UNAUTHENTICATED`.
  public func requireCaller() throws(RPCError) -> Caller {
    guard let caller = self.caller else {
      throw RPCError(code: .unauthenticated, message: "This method needs a bearer token.")
    }
    return caller
  }
}

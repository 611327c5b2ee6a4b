import Auth
import Logging
import RPCCore
import ServiceKit
public import RPCHTTP2

/// The gateway's fast path for unary calls: on the event loop the call arrived on, with no
/// task, it checks the edge policy from caches, stamps the request id and trace context, and
/// moves the request bytes to a backend connection of the same loop and the answer back.
///
/// It does what the interceptors and ``Proxy`` do for the common case only, and declines
/// (so the call takes the full path) whatever needs to wait for something: a token not yet in
/// the verified-token cache, an API key to exchange, any authentication refusal, a backend
/// connection that is not open yet on this loop.
public final class GatewayEventLoopPath: EventLoopUnaryHandler {
  let proxy: Proxy
  let authentication: AuthenticationInterceptor?
  let rateLimits: RateLimitInterceptor?
  let logger: Logger

  init(proxy: Proxy, authentication: AuthenticationInterceptor?, rateLimits: RateLimitInterceptor?, logger: Logger) {
    self.proxy = proxy
    self.authentication = authentication
    self.rateLimits = rateLimits
    self.logger = logger
  }

  public func handle(_ call: EventLoopUnaryCall) -> Bool {
    guard let route = self.proxy.unaryRoutes[call.descriptor.path] else { return false }
    var caller: Caller?
    if let authentication {
      guard case .allowed(let allowed) = authentication.cachedDecision(metadata: call.metadata, descriptor: call.descriptor)
      else { return false }
      caller = allowed
    }
    let forwarding = UnaryForwarding(call: call, route: route, path: self, tenant: caller?.tenantID)
    return forwarding.start()
  }

  var logsAccess: Bool { self.logger.logLevel <= .info }
}

/// One unary call on the event-loop path, from its first attempt to its answer: the
/// event-loop driver of the call's ``ForwardingPolicy`` (callbacks and loop timers), handing
/// the call to the task driver when an attempt cannot start on this loop. Event loop only.
final class UnaryForwarding {
  private let call: EventLoopUnaryCall
  private let path: GatewayEventLoopPath
  private var policy: ForwardingPolicy
  private let began = ContinuousClock.now
  private var fields = CallRecord.Fields()
  private var outgoing = Metadata()
  /// What to stop when the client cancels: the backend call, a pending retry, a fallback task.
  private var backendCall: EventLoopClientCall?
  private var pendingRetry: EventLoopTimer?
  private var fallback: Task<Void, Never>?

  init(call: EventLoopUnaryCall, route: Proxy.UnaryRoute, path: GatewayEventLoopPath, tenant: String?) {
    self.call = call
    self.path = path
    self.policy = ForwardingPolicy(route: route, limits: path.proxy.limits, deadline: call.deadline)
    self.fields.tenant = tenant ?? ""
    self.fields.bytesIn = call.request.count
  }

  /// Sends the first attempt, or answers at once (rate limited, every replica at capacity);
  /// `false`, with nothing sent or counted, when the chosen replica has no open connection on
  /// this loop.
  func start() -> Bool {
    if let replica = self.policy.pickFirstReplica(), !replica.forwardingTransport().canStartUnaryOnCurrentEventLoop {
      // The task path connects only to the replica it picks, so without this a replica this
      // path keeps choosing would never get a connection here, and never get a call from it.
      replica.forwardingTransport().startConnectingIfIdle()
      self.policy.abandon()
      return false
    }
    let action = self.policy.admit(
      rateLimits: self.path.rateLimits, tenant: self.fields.tenant.isEmpty ? nil : self.fields.tenant,
      remotePeer: self.call.remotePeer)
    let refused: Bool
    switch action {
    case .fail(let error) where error.code != .deadlineExceeded: refused = true  // rate limited, at capacity
    default: refused = false
    }
    if !refused {
      let (stamped, requestID) = RequestIdentityInterceptor.stamp(
        self.call.metadata, client: ClientAddress.of(peer: self.call.remotePeer), dropping: Proxy.isHopByHop)
      self.fields.requestID = requestID
      self.outgoing = stamped
      self.call.onCancel = { [self] in
        self.backendCall?.cancel()
        self.pendingRetry?.cancel()
        self.fallback?.cancel()
      }
    }
    self.perform(action)
    return true
  }

  /// Carries out what the policy asked for.
  private func perform(_ action: ForwardingPolicy.Action) {
    switch action {
    case .send(let replica, let timeout):
      var options = CallOptions.defaults
      options.timeout = timeout
      self.fields.replica = replica.addressText
      self.fields.attempts = self.policy.attempt
      let started = replica.forwardingTransport().startUnaryOnCurrentEventLoop(
        descriptor: self.policy.method.descriptor, metadata: self.outgoing, options: options,
        request: self.call.request
      ) { [self] result in
        self.backendCall = nil
        self.attempted(result)
      }
      if let started {
        self.backendCall = started
      } else {
        self.policy.attemptNotStarted()
        self.continueInTask()
      }
    case .retry(let pause):
      self.pendingRetry = self.call.schedule(after: pause) { [self] in
        self.pendingRetry = nil
        guard !self.call.isEnded else { return }
        self.perform(self.policy.nextAttempt())
      }
    case .fail(let error):
      self.end(.failure(error))
    }
  }

  private func attempted(_ result: Result<UnaryResponse, RPCError>) {
    switch result {
    case .success(let response):
      self.policy.attemptSucceeded()
      self.end(.success(response))
    case .failure(let error):
      self.perform(self.policy.attemptFailed(error, callerGone: self.call.isEnded))
    }
  }

  /// The next attempt through the task driver (``Proxy/forward(policy:from:request:metadata:)``),
  /// which connects; the answer comes back to this loop.
  private func continueInTask() {
    let proxy = self.path.proxy
    let request = RawMessage(bytes: Array(self.call.request))
    let metadata = self.outgoing
    let handedOver = self.policy
    let bound = EventLoopBound(self, loopOf: self.call)
    self.fallback = Task {
      let record = CallRecord()
      let result: Result<UnaryResponse, RPCError>
      do {
        let response = try await CallRecord.$current.withValue(record) {
          var policy = handedOver
          let next = policy.nextAttempt()
          return try await proxy.forward(policy: &policy, from: next, request: request, metadata: metadata)
        }
        result = .success(response)
      } catch {
        result = .failure(RPCError(mapping: error))
      }
      let fields = record.fields.withLock { $0 }
      bound.execute { forwarding in
        forwarding.fallback = nil
        forwarding.fields.replica = fields.replica
        forwarding.fields.attempts = fields.attempts
        forwarding.end(result)
      }
    }
  }

  /// Answers the client and writes the access line.
  func end(_ result: Result<UnaryResponse, RPCError>) {
    var status: String
    let clientGone = self.call.isEnded
    switch result {
    case .success(let response):
      self.fields.bytesOut = response.message.count
      status = "OK"
      self.call.respond(headers: response.headers, message: response.message, trailers: response.trailers)
    case .failure(let error):
      status = "\(error.code)"
      self.call.fail(Status(error), trailers: error.metadata)
    }
    if clientGone { status = "\(RPCError.Code.cancelled)" }
    if self.path.logsAccess {
      AccessLogInterceptor.log(
        self.path.logger, path: self.call.descriptor.path, status: status, elapsed: ContinuousClock.now - self.began,
        fields: self.fields, peer: self.call.remotePeer)
    }
  }
}

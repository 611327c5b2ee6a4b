import Auth
import Logging
import NIOCore
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

/// One unary call on the event-loop path, from its first attempt to its answer. Event loop
/// only.
final class UnaryForwarding {
  private let call: EventLoopUnaryCall
  private let route: Proxy.UnaryRoute
  private let path: GatewayEventLoopPath
  private let began = ContinuousClock.now
  private var fields = CallRecord.Fields()
  private var outgoing = Metadata()
  /// Replicas whose attempt failed with UNAVAILABLE (filled only when retrying: a Set per
  /// call would cost an allocation on every call).
  private var tried = Set<ObjectIdentifier>()
  private var attempt = 0
  /// What to stop when the client cancels: the backend call, a pending retry, a fallback task.
  private var backendCall: EventLoopClientCall?
  private var pendingRetry: Scheduled<Void>?
  private var fallback: Task<Void, Never>?

  init(call: EventLoopUnaryCall, route: Proxy.UnaryRoute, path: GatewayEventLoopPath, tenant: String?) {
    self.call = call
    self.route = route
    self.path = path
    self.fields.tenant = tenant ?? ""
    self.fields.bytesIn = call.request.count
  }

  /// Sends the first attempt, or answers at once (rate limited, every replica at capacity);
  /// `false`, with nothing sent or counted, when the chosen replica has no open connection on
  /// this loop.
  func start() -> Bool {
    let proxy = self.path.proxy
    let replica = self.route.set.acquire(limit: proxy.configuration.maxPendingPerReplica)
    if let replica, !replica.forwardingTransport().canStartUnaryOnCurrentEventLoop {
      // The task path connects only to the replica it picks, so without this a replica this
      // path keeps choosing would never get a connection here, and never get a call from it.
      replica.forwardingTransport().startConnectingIfIdle()
      replica.release()
      return false
    }
    if let limits = self.path.rateLimits,
      let refusal = limits.check(tenant: self.fields.tenant.isEmpty ? nil : self.fields.tenant, remotePeer: self.call.remotePeer)
    {
      replica?.release()
      self.end(.failure(refusal))
      return true
    }
    proxy.budget.recordCall()
    guard let replica else {
      self.end(.failure(proxy.atCapacity(self.route.method)))
      return true
    }
    let (stamped, requestID) = RequestIdentityInterceptor.stamp(
      self.call.metadata, client: ClientAddress.of(peer: self.call.remotePeer), dropping: Proxy.isHopByHop)
    self.fields.requestID = requestID
    self.outgoing = stamped
    self.call.onCancel = { [self] in
      self.backendCall?.cancel()
      self.pendingRetry?.cancel()
      self.fallback?.cancel()
    }
    if !self.send(to: replica) {
      replica.release()
      self.retryInTask()
    }
    return true
  }

  /// Starts an attempt on `replica` (already acquired); `false` when its connection on this
  /// loop is not open.
  private func send(to replica: Replica) -> Bool {
    var options = CallOptions.defaults
    if let deadline = self.call.deadline {
      let remaining = deadline - ContinuousClock.now
      guard remaining > .zero else {
        replica.release()
        self.end(.failure(RPCError(code: .deadlineExceeded, message: "The caller's deadline has passed.")))
        return true
      }
      options.timeout = remaining
    }
    self.attempt += 1
    self.fields.replica = replica.addressText
    self.fields.attempts = self.attempt
    let started = replica.forwardingTransport().startUnaryOnCurrentEventLoop(
      descriptor: self.route.method.descriptor, metadata: self.outgoing, options: options, request: self.call.request
    ) { [self] result in
      self.backendCall = nil
      self.attempted(on: replica, result)
    }
    guard let started else {
      self.attempt -= 1
      return false
    }
    self.backendCall = started
    return true
  }

  private func attempted(on replica: Replica, _ result: Result<UnaryResponse, RPCError>) {
    replica.release()
    switch result {
    case .success(let response):
      replica.recordSuccess()
      self.end(.success(response))
    case .failure(let error) where error.code == .unavailable:
      replica.recordFailure()
      self.tried.insert(ObjectIdentifier(replica))
      guard !self.call.isEnded,
        let pause = self.path.proxy.retryPause(
          after: error, attempt: self.attempt, maxAttempts: self.route.maxAttempts, deadline: self.call.deadline)
      else {
        self.end(.failure(error))
        return
      }
      self.path.logger.debug(
        "retrying", metadata: ["rpc.method": "\(self.route.method.descriptor.path)", "replica": "\(replica.address)"])
      self.pendingRetry = self.call.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(pause)) {
        self.pendingRetry = nil
        self.retry()
      }
    case .failure(let error):
      self.end(.failure(error))
    }
  }

  /// The next attempt, on another replica when there is one; through a task (which connects)
  /// when that replica has no open connection on this loop.
  private func retry() {
    guard !self.call.isEnded else { return }
    guard
      let replica = self.route.set.acquire(
        excluding: self.tried, limit: self.path.proxy.configuration.maxPendingPerReplica)
    else {
      self.end(.failure(self.path.proxy.atCapacity(self.route.method)))
      return
    }
    if self.send(to: replica) { return }
    replica.release()
    self.retryInTask()
  }

  private func retryInTask() {
    let proxy = self.path.proxy
    let route = self.route
    let request = RawMessage(bytes: Array(self.call.request))
    let metadata = self.outgoing
    let tried = self.tried
    let attemptsMade = self.attempt
    let deadline = self.call.deadline
    let loopBound = NIOLoopBound(self, eventLoop: self.call.eventLoop)
    let eventLoop = self.call.eventLoop
    self.fallback = Task {
      let record = CallRecord()
      let result: Result<UnaryResponse, RPCError>
      do {
        let (headers, response, trailers) = try await CallRecord.$current.withValue(record) {
          try await RPCDeadline.$current.withValue(deadline) {
            try await proxy.forwardUnary(
              route.method, maxAttempts: route.maxAttempts, set: route.set, request: request, metadata: metadata,
              tried: tried, attemptsMade: attemptsMade)
          }
        }
        result = .success(UnaryResponse(headers: headers, message: response.bytes[...], trailers: trailers))
      } catch {
        result = .failure(RPCError(mapping: error))
      }
      let fields = record.fields.withLock { $0 }
      eventLoop.execute {
        let forwarding = loopBound.value
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

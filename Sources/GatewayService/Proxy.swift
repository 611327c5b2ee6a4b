public import Logging
public import RPCCore
import RPCHTTP2
import ServiceKit

/// Forwards calls to backend replicas without decoding their messages.
public final class Proxy: Sendable {
  public let configuration: GatewayConfiguration
  /// Replica sets by service name (only services the configuration routes).
  let replicaSets: [String: ReplicaSet]
  let budget: RetryBudget
  let logger: Logger
  /// Every routed unary method by path, for the event-loop path.
  let unaryRoutes: [String: UnaryRoute]

  /// A routed unary method: where it goes and how many attempts it may take.
  final class UnaryRoute: Sendable {
    let method: CompiledServices.Method
    let set: ReplicaSet
    let maxAttempts: Int

    init(method: CompiledServices.Method, set: ReplicaSet, maxAttempts: Int) {
      self.method = method
      self.set = set
      self.maxAttempts = maxAttempts
    }
  }

  /// Request headers that describe one HTTP hop and never travel further.
  /// Whether `key` names a hop-by-hop header, which is not forwarded: the transport's
  /// connection-specific fields, and the credentials meant for this proxy. Compared, not hashed:
  /// every forwarded call asks for each of its keys.
  static func isHopByHop(_ key: String) -> Bool {
    Metadata.isConnectionSpecific(key) || key == "proxy-authorization"
  }

  public init(configuration: GatewayConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
    self.budget = RetryBudget(
      ratio: configuration.retryBudgetRatio, minimumPerSecond: configuration.minimumRetriesPerSecond)
    var sets: [String: ReplicaSet] = [:]
    var byAddresses: [[ListenAddress]: ReplicaSet] = [:]
    for service in CompiledServices.methodsByService.keys {
      guard let addresses = configuration.replicas(for: service) else { continue }
      // Services routed to the same replicas share their connections and counters.
      let set = byAddresses[addresses] ?? ReplicaSet(addresses: addresses)
      byAddresses[addresses] = set
      sets[service] = set
    }
    self.replicaSets = sets
    var routes: [String: UnaryRoute] = [:]
    for (service, methods) in CompiledServices.methodsByService {
      guard let set = sets[service] else { continue }
      for method in methods where method.kind == .unary {
        let retryable = Self.isRetryable(method, configuration: configuration)
        routes[method.descriptor.path] = UnaryRoute(method: method, set: set, maxAttempts: retryable ? 4 : 1)
      }
    }
    self.unaryRoutes = routes
  }

  /// Whether failed attempts of `method` may be repeated: unary methods marked idempotent or
  /// side-effect free in the protos, or listed by the configuration's `retry` line.
  static func isRetryable(_ method: CompiledServices.Method, configuration: GatewayConfiguration) -> Bool {
    method.kind == .unary
      && (method.idempotency.allowsRetry || configuration.retryMethods.contains(method.descriptor.path))
  }

  /// Every routed service's methods, as stream handlers.
  public var service: some RegistrableRPCService { ProxyMethods(proxy: self) }

  /// The services the gateway routes.
  public var routedServices: [String] { self.replicaSets.keys.sorted() }

  /// Every distinct replica.
  var allReplicas: [Replica] {
    var seen = Set<ObjectIdentifier>()
    var replicas: [Replica] = []
    for set in self.replicaSets.values {
      for replica in set.replicas where seen.insert(ObjectIdentifier(replica)).inserted { replicas.append(replica) }
    }
    return replicas
  }

  /// Checks every replica's health every `interval` until cancelled: a serving replica is
  /// returned to rotation, a failing one ejected.
  public func runHealthChecks() async {
    let interval = self.configuration.healthInterval
    while !Task.isCancelled {
      await withTaskGroup(of: Void.self) { group in
        for replica in self.allReplicas {
          group.addTask {
            if await replica.checkHealth(timeout: min(interval, .seconds(1))) {
              replica.recordSuccess()
            } else {
              replica.recordFailure()
            }
          }
        }
      }
      try? await Task.sleep(for: interval)
    }
  }

  /// Closes the backend connections.
  public func close() async {
    for replica in self.allReplicas { await replica.close() }
  }

  static func outgoing(_ metadata: Metadata) -> Metadata {
    var out = Metadata()
    for element in metadata where !Self.isHopByHop(element.key) {
      out.add(element.key, element.value)
    }
    return out
  }

  func forward(
    _ method: CompiledServices.Method, retryable: Bool, set: ReplicaSet, stream: any ServerCallStream,
    metadata: Metadata
  ) async throws -> Metadata {
    self.budget.recordCall()
    let outgoing = Self.outgoing(metadata)
    if method.kind == .unary {
      return try await self.forwardUnary(
        method, maxAttempts: retryable ? 4 : 1, set: set, stream: stream, metadata: outgoing)
    }
    guard let replica = set.acquire(limit: self.configuration.maxPendingPerReplica) else {
      throw self.atCapacity(method)
    }
    defer { replica.release() }
    CallRecord.current?.update {
      $0.replica = replica.address.description
      $0.attempts = 1
    }
    do {
      let trailers = try await replica.forwardingTransport().withStream(
        descriptor: method.descriptor, metadata: outgoing, options: try Self.callOptions()
      ) { call in
        try await Self.pump(stream: stream, call: call)
      }
      replica.recordSuccess()
      return trailers
    } catch let error as RPCError where error.code == .unavailable {
      replica.recordFailure()
      throw error
    }
  }

  /// Copies requests to the backend and responses back until the backend ends the call.
  static func pump(stream: any ServerCallStream, call: any ClientCallStream) async throws -> Metadata {
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        while let message = try await stream.receive(RawMessage.self) {
          CallRecord.current?.update { $0.bytesIn += message.bytes.count }
          try await call.send(message, endOfStream: false)
        }
        try await call.finishSending()
      }
      let headers = try await call.receiveMetadata()
      try await stream.sendMetadata(headers)
      while let message = try await call.receive(RawMessage.self) {
        CallRecord.current?.update { $0.bytesOut += message.bytes.count }
        try await stream.send(message)
      }
      let trailers = await call.trailingMetadata()
      // The backend is done; a client that never half-closed no longer matters.
      group.cancelAll()
      while (try? await group.next()) != nil {}
      return trailers
    }
  }

  /// Unary calls: one request, one response, no helper task.
  func forwardUnary(
    _ method: CompiledServices.Method, maxAttempts: Int, set: ReplicaSet, stream: any ServerCallStream,
    metadata: Metadata
  ) async throws -> Metadata {
    guard let request = try await stream.receive(RawMessage.self) else {
      throw RPCError(code: .internal, message: "A unary call needs one request message.")
    }
    guard try await stream.receive(RawMessage.self) == nil else {
      throw RPCError(code: .internal, message: "A unary call takes exactly one request message.")
    }
    CallRecord.current?.update { $0.bytesIn = request.bytes.count }
    let (headers, response, trailers) = try await self.forwardUnary(
      method, maxAttempts: maxAttempts, set: set, request: request, metadata: metadata)
    try await stream.sendMetadata(headers)
    try await stream.send(response)
    return trailers
  }

  /// Forwards one unary request. For idempotent methods (`maxAttempts` > 1) an attempt that
  /// fails with UNAVAILABLE (a lost connection or the backend's status) is repeated on another
  /// replica, within the retry budget and the deadline, honouring `grpc-retry-pushback-ms`
  /// (see ``retryPause(after:attempt:maxAttempts:deadline:)``). `tried` and `attemptsMade`
  /// carry on from attempts made elsewhere (the event-loop path).
  func forwardUnary(
    _ method: CompiledServices.Method, maxAttempts: Int, set: ReplicaSet, request: RawMessage, metadata: Metadata,
    tried: Set<ObjectIdentifier> = [], attemptsMade: Int = 0
  ) async throws -> (headers: Metadata, response: RawMessage, trailers: Metadata) {
    var tried = tried
    var attempt = attemptsMade
    while true {
      attempt += 1
      guard let replica = set.acquire(excluding: tried, limit: self.configuration.maxPendingPerReplica) else {
        throw self.atCapacity(method)
      }
      tried.insert(ObjectIdentifier(replica))
      CallRecord.current?.update {
        $0.replica = replica.address.description
        $0.attempts = attempt
      }
      do {
        defer { replica.release() }
        let result = try await replica.forwardingTransport().withStream(
          descriptor: method.descriptor, metadata: metadata, options: try Self.callOptions()
        ) { call in
          try await call.send(request, endOfStream: true)
          let headers = try await call.receiveMetadata()
          guard let response = try await call.receive(RawMessage.self) else {
            throw RPCError(code: .internal, message: "The backend sent no response message.")
          }
          _ = try await call.receive(RawMessage.self)
          return (headers, response, await call.trailingMetadata())
        }
        replica.recordSuccess()
        CallRecord.current?.update { $0.bytesOut = result.1.bytes.count }
        return result
      } catch let error as RPCError where error.code == .unavailable {
        replica.recordFailure()
        guard !Task.isCancelled,
          let pause = self.retryPause(
            after: error, attempt: attempt, maxAttempts: maxAttempts, deadline: RPCDeadline.current)
        else { throw error }
        self.logger.debug(
          "retrying", metadata: ["rpc.method": "\(method.descriptor.path)", "replica": "\(replica.address)"])
        try await Task.sleep(for: pause)
      }
    }
  }

  /// How long to wait before retrying a call whose attempt `attempt` of `maxAttempts` failed
  /// with `error` (UNAVAILABLE); `nil` when it must not be retried: no attempts left, a
  /// negative or malformed `grpc-retry-pushback-ms`, a pause that would outlast the deadline,
  /// or an exhausted retry budget (taken from only when the answer is a pause).
  func retryPause(
    after error: RPCError, attempt: Int, maxAttempts: Int, deadline: ContinuousClock.Instant?
  ) -> Duration? {
    guard attempt < maxAttempts else { return nil }
    var pause = Duration.milliseconds(Int64.random(in: 0...10))
    if let pushback = error.metadata.firstString(Metadata.retryPushbackKey) {
      guard let milliseconds = Int64(pushback), milliseconds >= 0 else { return nil }
      pause = .milliseconds(milliseconds)
    }
    if let deadline, ContinuousClock.now + pause >= deadline { return nil }
    guard self.budget.tryRetry() else { return nil }
    return pause
  }

  /// The backend call's options: the time left of the client's deadline, so that the
  /// backend's deadline is the client's and not later.
  static func callOptions() throws -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = try RPCDeadline.effectiveTimeout(nil)
    return options
  }

  func atCapacity(_ method: CompiledServices.Method) -> RPCError {
    self.atCapacity(service: method.descriptor.service)
  }

  /// UNAVAILABLE with a 100 ms retry hint, as `retry-after-ms` (readable by any client) and
  /// as the pushback gRPC clients' retry logic honours (as rate limiting answers).
  func atCapacity(service: String) -> RPCError {
    var metadata = Metadata()
    metadata.add("retry-after-ms", "100")
    metadata.add(Metadata.retryPushbackKey, "100")
    return RPCError(
      code: .unavailable, message: "Every replica of \(service) is at capacity; retry later.", metadata: metadata)
  }
}

/// Registers a forwarding handler for every method of every routed service.
struct ProxyMethods: RegistrableRPCService {
  let proxy: Proxy

  func registerMethods(with router: inout RPCRouter) {
    for (service, methods) in CompiledServices.methodsByService {
      guard let set = self.proxy.replicaSets[service] else { continue }
      for method in methods {
        let retryable = Proxy.isRetryable(method, configuration: self.proxy.configuration)
        let proxy = self.proxy
        router.registerStreamHandler(method.descriptor, kind: method.kind) { stream, metadata, _ in
          try await proxy.forward(method, retryable: retryable, set: set, stream: stream, metadata: metadata)
        }
      }
    }
  }
}

public import Logging
public import RPCCore
import RPCHTTP2
import ServiceKit

/// Forwards calls to backend replicas without decoding their messages.
public final class Proxy: Sendable {
  public let configuration: GatewayConfiguration
  /// Replica sets by service name (only services the configuration routes).
  let replicaSets: [String: ReplicaSet]
  /// The retry budget, per-replica cap and logger every call's ``ForwardingPolicy`` shares.
  let limits: ForwardingLimits
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
    self.limits = ForwardingLimits(
      budget: RetryBudget(
        ratio: configuration.retryBudgetRatio, minimumPerSecond: configuration.minimumRetriesPerSecond),
      maxPendingPerReplica: configuration.maxPendingPerReplica, logger: logger)
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

  /// Forwards one call in its handler task: a unary one through
  /// ``forward(policy:from:request:metadata:)``, a streaming one once, message by message.
  func forward(
    _ method: CompiledServices.Method, retryable: Bool, set: ReplicaSet, stream: any ServerCallStream,
    metadata: Metadata
  ) async throws -> Metadata {
    let outgoing = Self.outgoing(metadata)
    var policy = ForwardingPolicy(
      method: method, set: set, maxAttempts: method.kind == .unary && retryable ? 4 : 1, limits: self.limits,
      deadline: RPCDeadline.current)
    if method.kind == .unary {
      return try await self.forwardUnary(policy: &policy, stream: stream, metadata: outgoing)
    }
    // Rate limits were applied by the interceptors, around authentication.
    let replica: Replica
    let timeout: Duration?
    switch policy.admit(rateLimits: nil, tenant: nil, remotePeer: "") {
    case .send(let chosen, let left):
      (replica, timeout) = (chosen, left)
    case .fail(let error):
      throw error
    case .retry:
      preconditionFailure("admission does not pause")
    }
    CallRecord.current?.update {
      $0.replica = replica.addressText
      $0.attempts = 1
    }
    do {
      let trailers = try await replica.forwardingTransport().withStream(
        descriptor: method.descriptor, metadata: outgoing, options: Self.callOptions(timeout: timeout)
      ) { call in
        try await Self.pump(stream: stream, call: call)
      }
      policy.attemptSucceeded()
      return trailers
    } catch {
      // One attempt only: the answer is to fail, with the attempt's own error.
      _ = policy.attemptFailed(RPCError(mapping: error), callerGone: true)
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
    policy: inout ForwardingPolicy, stream: any ServerCallStream, metadata: Metadata
  ) async throws -> Metadata {
    guard let request = try await stream.receive(RawMessage.self) else {
      throw RPCError(code: .internal, message: "A unary call needs one request message.")
    }
    guard try await stream.receive(RawMessage.self) == nil else {
      throw RPCError(code: .internal, message: "A unary call takes exactly one request message.")
    }
    CallRecord.current?.update { $0.bytesIn = request.bytes.count }
    // Rate limits were applied by the interceptors, around authentication.
    let admission = policy.admit(rateLimits: nil, tenant: nil, remotePeer: "")
    let response = try await self.forward(policy: &policy, from: admission, request: request, metadata: metadata)
    try await stream.sendMetadata(response.headers)
    try await stream.send(RawMessage(bytes: Array(response.message)))
    return response.trailers
  }

  /// The task driver of a unary call's ``ForwardingPolicy``: carries out `action` and every
  /// action after it (attempts through `withStream`, which connects; pauses with
  /// `Task.sleep`) until the call has its answer or its error. The event-loop path hands its
  /// calls here mid-way, when the next replica has no connection open on its loop.
  func forward(
    policy: inout ForwardingPolicy, from action: ForwardingPolicy.Action, request: RawMessage, metadata: Metadata
  ) async throws -> UnaryResponse {
    var action = action
    while true {
      switch action {
      case .fail(let error):
        throw error
      case .retry(let pause):
        try await Task.sleep(for: pause)
        action = policy.nextAttempt()
      case .send(let replica, let timeout):
        CallRecord.current?.update {
          $0.replica = replica.addressText
          $0.attempts = policy.attempt
        }
        do {
          let response = try await replica.forwardingTransport().withStream(
            descriptor: policy.method.descriptor, metadata: metadata, options: Self.callOptions(timeout: timeout)
          ) { call in
            try await call.send(request, endOfStream: true)
            let headers = try await call.receiveMetadata()
            guard let response = try await call.receive(RawMessage.self) else {
              throw RPCError(code: .internal, message: "The backend sent no response message.")
            }
            _ = try await call.receive(RawMessage.self)
            return UnaryResponse(headers: headers, message: response.bytes[...], trailers: await call.trailingMetadata())
          }
          policy.attemptSucceeded()
          CallRecord.current?.update { $0.bytesOut = response.message.count }
          return response
        } catch {
          action = policy.attemptFailed(RPCError(mapping: error), callerGone: Task.isCancelled)
          // The attempt's own error, as thrown (not only its mapping), when the call ends with it.
          if case .fail = action, !(error is RPCError) { throw error }
        }
      }
    }
  }

  /// The backend call's options: `timeout` (the time left of the client's deadline, so that
  /// the backend's deadline is the client's and not later).
  static func callOptions(timeout: Duration?) -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = timeout
    return options
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

import Logging
import RPCCore
import ServiceKit

/// What every call's ``ForwardingPolicy`` shares: the retry budget, the cap on calls in flight
/// per replica, and the logger that notes retries. A class, so that a policy holds one
/// reference to it rather than copies.
final class ForwardingLimits: Sendable {
  let budget: RetryBudget
  let maxPendingPerReplica: Int
  let logger: Logger

  init(budget: RetryBudget, maxPendingPerReplica: Int, logger: Logger) {
    self.budget = budget
    self.maxPendingPerReplica = maxPendingPerReplica
    self.logger = logger
  }
}

/// The forwarding rules of one call, from admission to its last attempt, as a state machine
/// without I/O: it is told what happened (admission asked, an attempt answered or failed, a
/// pause over) and answers what to do next (``Action``). Rate limits at admission, the retry
/// budget, replica choice and ejection, the deadline, pushback and the attempt count live here
/// only.
///
/// Two drivers run it: ``UnaryForwarding`` on the event loop (callbacks, loop timers) and
/// ``Proxy/forward(policy:from:request:metadata:)`` in a task (`await`, `Task.sleep`). A call
/// can move from the first to the second mid-way, its policy with it.
///
/// A replica handed out in ``Action/send(to:timeout:)`` is counted in until the driver reports
/// the attempt (``attemptSucceeded()``, ``attemptFailed(_:callerGone:)``) or that it could not
/// start it (``attemptNotStarted()``).
struct ForwardingPolicy: Sendable {
  /// What the driver does next.
  enum Action {
    /// Start an attempt on `replica`, with `timeout` as its `grpc-timeout` (`nil`: none).
    case send(to: Replica, timeout: Duration?)
    /// Wait `pause`, then ask ``nextAttempt()``.
    case retry(after: Duration)
    /// End the call with `error`.
    case fail(RPCError)
  }

  let method: CompiledServices.Method
  let set: ReplicaSet
  let maxAttempts: Int
  let limits: ForwardingLimits
  /// When the client stops waiting.
  let deadline: ContinuousClock.Instant?
  /// Attempts sent so far.
  private(set) var attempt = 0
  /// The replica of the attempt in flight, or the one picked for the first attempt.
  private(set) var replica: Replica?
  private var picked = false
  /// Replicas whose attempt failed with UNAVAILABLE (filled only when retrying: a set per call
  /// would cost an allocation on every call).
  private var tried = Set<ObjectIdentifier>()

  init(
    method: CompiledServices.Method, set: ReplicaSet, maxAttempts: Int, limits: ForwardingLimits,
    deadline: ContinuousClock.Instant?
  ) {
    self.method = method
    self.set = set
    self.maxAttempts = maxAttempts
    self.limits = limits
    self.deadline = deadline
  }

  init(route: Proxy.UnaryRoute, limits: ForwardingLimits, deadline: ContinuousClock.Instant?) {
    self.init(method: route.method, set: route.set, maxAttempts: route.maxAttempts, limits: limits, deadline: deadline)
  }

  /// Picks the first attempt's replica ahead of ``admit(rateLimits:tenant:remotePeer:)``, so that
  /// a driver that cannot reach it from where it runs can let go (``abandon()``) with nothing
  /// counted or limited. `nil` when every replica is at capacity.
  mutating func pickFirstReplica() -> Replica? {
    precondition(!self.picked && self.attempt == 0)
    self.picked = true
    self.replica = self.set.acquire(limit: self.limits.maxPendingPerReplica)
    return self.replica
  }

  /// Lets go of the picked replica: the call goes another way and was never admitted here.
  mutating func abandon() {
    self.replica?.release()
    self.replica = nil
    self.picked = false
  }

  /// Lets the call in and answers its first attempt, or refuses it: over a rate limit of
  /// `rateLimits` (`nil` when the caller's interceptors applied them), every replica at
  /// capacity, the deadline already passed. Counts the call for the retry budget unless rate
  /// limited.
  mutating func admit(rateLimits: RateLimitInterceptor?, tenant: String?, remotePeer: String) -> Action {
    if let rateLimits, let refusal = rateLimits.check(tenant: tenant, remotePeer: remotePeer) {
      self.abandon()
      return .fail(refusal)
    }
    self.limits.budget.recordCall()
    if !self.picked {
      self.picked = true
      self.replica = self.set.acquire(limit: self.limits.maxPendingPerReplica)
    }
    return self.sendToReplica()
  }

  /// The pause before a retry is over, or the call has moved to a driver that can connect: the
  /// next attempt, on a replica not tried yet when there is one.
  mutating func nextAttempt() -> Action {
    precondition(self.replica == nil, "an attempt is in flight")
    self.replica = self.set.acquire(excluding: self.tried, limit: self.limits.maxPendingPerReplica)
    return self.sendToReplica()
  }

  /// The attempt just handed out could not start from where the driver runs (no open
  /// connection on this event loop): the replica is let go and the attempt not counted.
  mutating func attemptNotStarted() {
    self.replica?.release()
    self.replica = nil
    self.attempt -= 1
  }

  /// The attempt answered: its replica is healthy.
  mutating func attemptSucceeded() {
    guard let replica = self.replica else { return }
    self.replica = nil
    replica.release()
    replica.recordSuccess()
  }

  /// The attempt failed with `error`. UNAVAILABLE (a lost connection or the backend's status)
  /// ejects the replica, and is retried on another one when the method allows it, attempts
  /// remain, the caller is still there (`callerGone`: it cancelled) and
  /// ``retryPause(after:attempt:maxAttempts:deadline:budget:)`` gives a pause; every other
  /// outcome fails the call with `error` itself.
  mutating func attemptFailed(_ error: RPCError, callerGone: Bool) -> Action {
    guard let replica = self.replica else { return .fail(error) }
    self.replica = nil
    replica.release()
    guard error.code == .unavailable else { return .fail(error) }
    replica.recordFailure()
    guard !callerGone,
      let pause = Self.retryPause(
        after: error, attempt: self.attempt, maxAttempts: self.maxAttempts, deadline: self.deadline,
        budget: self.limits.budget)
    else { return .fail(error) }
    self.tried.insert(ObjectIdentifier(replica))
    self.limits.logger.debug(
      "retrying", metadata: ["rpc.method": "\(self.method.descriptor.path)", "replica": "\(replica.address)"])
    return .retry(after: pause)
  }

  /// The picked replica with the time left of the deadline, or why not.
  private mutating func sendToReplica() -> Action {
    guard let replica = self.replica else {
      return .fail(Self.atCapacity(service: self.method.descriptor.service))
    }
    let timeout: Duration?
    do {
      timeout = try RPCDeadline.effectiveTimeout(nil, deadline: self.deadline)
    } catch {
      self.replica = nil
      replica.release()
      return .fail(error)
    }
    self.attempt += 1
    return .send(to: replica, timeout: timeout)
  }

  /// How long to wait before retrying a call whose attempt `attempt` of `maxAttempts` failed
  /// with `error` (UNAVAILABLE); `nil` when it must not be retried: no attempts left, a
  /// negative or malformed `grpc-retry-pushback-ms`, a pause that would outlast the deadline,
  /// or an exhausted retry `budget` (taken from only when the answer is a pause).
  static func retryPause(
    after error: RPCError, attempt: Int, maxAttempts: Int, deadline: ContinuousClock.Instant?, budget: RetryBudget
  ) -> Duration? {
    guard attempt < maxAttempts else { return nil }
    var pause = Duration.milliseconds(Int64.random(in: 0...10))
    if let pushback = error.metadata.firstString(Metadata.retryPushbackKey) {
      guard let milliseconds = Int64(pushback), milliseconds >= 0 else { return nil }
      pause = .milliseconds(milliseconds)
    }
    if let deadline, ContinuousClock.now + pause >= deadline { return nil }
    guard budget.tryRetry() else { return nil }
    return pause
  }

  /// UNAVAILABLE with a 100 ms retry hint, as `retry-after-ms` (readable by any client) and
  /// as the pushback gRPC clients' retry logic honours (as rate limiting answers).
  static func atCapacity(service: String) -> RPCError {
    var metadata = Metadata()
    metadata.add("retry-after-ms", "100")
    metadata.add(Metadata.retryPushbackKey, "100")
    return RPCError(
      code: .unavailable, message: "Every replica of \(service) is at capacity; retry later.", metadata: metadata)
  }
}

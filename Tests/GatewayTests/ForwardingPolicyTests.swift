import Logging
import RPCCore
import ServiceKit
import Testing

@testable import GatewayService

/// The rules both forwarding paths run, driven here by hand: no sockets, no event loop, no task
/// of the gateway's.
@Suite("Forwarding policy")
struct ForwardingPolicyTests {
  static let unaryCall = CompiledServices.methodsByService["grpc.testing.TestService"]!.first {
    $0.descriptor.method == "UnaryCall"
  }!

  static func policy(
    replicas: Int = 2, maxAttempts: Int = 4, maxPending: Int = 10, budget: RetryBudget = RetryBudget(ratio: 1, minimumPerSecond: 10),
    deadline: ContinuousClock.Instant? = nil, set: ReplicaSet? = nil
  ) -> ForwardingPolicy {
    let set = set ?? ReplicaSet(addresses: (1...replicas).map { ListenAddress(host: "127.0.0.1", port: $0) })
    return ForwardingPolicy(
      method: Self.unaryCall, set: set, maxAttempts: maxAttempts,
      limits: ForwardingLimits(budget: budget, maxPendingPerReplica: maxPending, logger: Logger(label: "test")),
      deadline: deadline)
  }

  static func unavailable(pushback: String? = nil) -> RPCError {
    var metadata = Metadata()
    if let pushback { metadata.add(Metadata.retryPushbackKey, pushback) }
    return RPCError(code: .unavailable, message: "down", metadata: metadata)
  }

  static func sent(_ action: ForwardingPolicy.Action) -> (replica: Replica, timeout: Duration?)? {
    if case .send(let replica, let timeout) = action { return (replica, timeout) }
    return nil
  }

  static func failure(_ action: ForwardingPolicy.Action) -> RPCError? {
    if case .fail(let error) = action { return error }
    return nil
  }

  @Test func anAdmittedCallIsSentWithTheTimeLeftOfItsDeadlineAndItsSuccessReleasesTheReplica() throws {
    var policy = Self.policy(deadline: .now + .seconds(5))
    let (replica, timeout) = try #require(Self.sent(policy.admit(rateLimits: nil, tenant: nil, remotePeer: "")))
    let left = try #require(timeout)
    #expect(left > .seconds(4) && left <= .seconds(5))
    #expect(policy.attempt == 1 && replica.outstanding == 1)
    policy.attemptSucceeded()
    #expect(replica.outstanding == 0 && replica.ejectedUntil == nil)
    // Without a deadline the backend call has no timeout.
    var open = Self.policy()
    #expect(try #require(Self.sent(open.admit(rateLimits: nil, tenant: nil, remotePeer: ""))).timeout == nil)
  }

  @Test func anUnavailableAttemptEjectsItsReplicaAndIsRetriedOnAnotherAfterThePushback() throws {
    var policy = Self.policy()
    let first = try #require(Self.sent(policy.admit(rateLimits: nil, tenant: nil, remotePeer: ""))).replica
    guard case .retry(let pause) = policy.attemptFailed(Self.unavailable(pushback: "40"), callerGone: false) else {
      Issue.record("no retry")
      return
    }
    #expect(pause == .milliseconds(40))
    #expect(first.outstanding == 0 && first.isEjected(at: .now))
    let second = try #require(Self.sent(policy.nextAttempt())).replica
    #expect(second !== first && policy.attempt == 2)
    // The second replica fails too: the third attempt goes back to the first (the only other).
    _ = policy.attemptFailed(Self.unavailable(pushback: "0"), callerGone: false)
    #expect(try #require(Self.sent(policy.nextAttempt())).replica === first)
  }

  @Test func onlyUnavailableIsRetriedAndOtherFailuresLeaveTheReplicaInRotation() throws {
    var policy = Self.policy()
    let replica = try #require(Self.sent(policy.admit(rateLimits: nil, tenant: nil, remotePeer: ""))).replica
    let error = try #require(Self.failure(policy.attemptFailed(RPCError(code: .internal, message: "x"), callerGone: false)))
    #expect(error.code == .internal && error.message == "x")
    #expect(replica.outstanding == 0 && replica.ejectedUntil == nil)
  }

  @Test(arguments: ["attempts", "budget", "deadline", "pushback", "caller gone"])
  func anUnavailableAttemptFailsTheCallWhenARetryIsNotAllowed(reason: String) throws {
    var policy = Self.policy(
      maxAttempts: reason == "attempts" ? 1 : 4,
      budget: RetryBudget(ratio: 0, minimumPerSecond: reason == "budget" ? 0 : 10),
      deadline: reason == "deadline" ? .now + .milliseconds(500) : nil)
    let replica = try #require(Self.sent(policy.admit(rateLimits: nil, tenant: nil, remotePeer: ""))).replica
    let pushback = reason == "pushback" ? "-1" : reason == "deadline" ? "1000" : nil
    let error = try #require(
      Self.failure(policy.attemptFailed(Self.unavailable(pushback: pushback), callerGone: reason == "caller gone")))
    #expect(error.code == .unavailable)
    // Ejected all the same.
    #expect(replica.isEjected(at: .now) && replica.outstanding == 0)
  }

  @Test func admissionRefusesOverTheRateLimitWithoutHoldingTheReplica() throws {
    let limits = RateLimitInterceptor(tenant: RateLimiter(perSecond: 1, burst: 1), client: nil)
    let set = ReplicaSet(addresses: [ListenAddress(host: "127.0.0.1", port: 1)])
    var first = Self.policy(set: set)
    #expect(Self.sent(first.admit(rateLimits: limits, tenant: "t", remotePeer: "ipv4:10.0.0.1:1")) != nil)
    first.attemptSucceeded()
    var second = Self.policy(set: set)
    _ = second.pickFirstReplica()
    let refusal = try #require(Self.failure(second.admit(rateLimits: limits, tenant: "t", remotePeer: "ipv4:10.0.0.1:1")))
    #expect(refusal.code == .resourceExhausted && refusal.metadata.firstString("retry-after-ms") != nil)
    #expect(set.replicas[0].outstanding == 0)
  }

  @Test func admissionRefusesWhenEveryReplicaIsAtCapacityOrTheDeadlineHasPassed() throws {
    let set = ReplicaSet(addresses: [ListenAddress(host: "127.0.0.1", port: 1)])
    var busy = Self.policy(maxPending: 1, set: set)
    #expect(Self.sent(busy.admit(rateLimits: nil, tenant: nil, remotePeer: "")) != nil)
    var capped = Self.policy(maxPending: 1, set: set)
    let full = try #require(Self.failure(capped.admit(rateLimits: nil, tenant: nil, remotePeer: "")))
    #expect(full.code == .unavailable && full.metadata.firstString(Metadata.retryPushbackKey) == "100")
    busy.attemptSucceeded()
    var late = Self.policy(deadline: .now - .milliseconds(1), set: set)
    let expired = try #require(Self.failure(late.admit(rateLimits: nil, tenant: nil, remotePeer: "")))
    #expect(expired.code == .deadlineExceeded && late.attempt == 0)
    #expect(set.replicas[0].outstanding == 0)
  }

  @Test func aPickedReplicaCanBeAbandonedWithNothingCounted() throws {
    let budget = RetryBudget(ratio: 1, minimumPerSecond: 0)
    var policy = Self.policy(replicas: 1, budget: budget)
    let picked = policy.pickFirstReplica()
    let replica = try #require(picked)
    #expect(replica.outstanding == 1)
    policy.abandon()
    #expect(replica.outstanding == 0)
    // No call counted, so no retry allowed yet; admission counts one.
    #expect(!budget.tryRetry())
    #expect(Self.sent(policy.admit(rateLimits: nil, tenant: nil, remotePeer: ""))?.replica === replica)
    #expect(budget.tryRetry())
  }

  @Test func anAttemptThatCouldNotStartIsUncountedAndTheNextIsPickedAfresh() throws {
    var policy = Self.policy(replicas: 1)
    let replica = try #require(Self.sent(policy.admit(rateLimits: nil, tenant: nil, remotePeer: ""))).replica
    policy.attemptNotStarted()
    #expect(policy.attempt == 0 && replica.outstanding == 0)
    #expect(Self.sent(policy.nextAttempt())?.replica === replica)
    #expect(policy.attempt == 1 && replica.outstanding == 1)
  }
}

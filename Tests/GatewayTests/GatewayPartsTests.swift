import RPCCore
import ServiceKit
import Testing

@testable import GatewayService

@Suite("Gateway parts")
struct GatewayPartsTests {
  @Test func tokenBucketsAllowTheBurstThenRefillAtTheRate() {
    let limiter = RateLimiter(perSecond: 10, burst: 3)
    let start = ContinuousClock.now
    #expect((0..<3).allSatisfy { _ in limiter.take("t", now: start) == nil })
    let wait = limiter.take("t", now: start)
    #expect(wait != nil && wait! <= .milliseconds(100))
    #expect(limiter.take("other", now: start) == nil)
    #expect(limiter.take("t", now: start + .milliseconds(150)) == nil)
    #expect(limiter.take("t", now: start + .milliseconds(150)) != nil)
  }

  @Test func manyActiveKeysAreSweptAtMostOnceASecondNotOnEveryCall() {
    let limiter = RateLimiter(perSecond: 1, burst: 1)
    let start = ContinuousClock.now
    for key in 0...RateLimiter.sweepAbove { _ = limiter.take("k\(key)", now: start) }
    // Every key is active, so a sweep frees nothing: it must not run again on each call.
    for call in 0..<1000 { _ = limiter.take("again\(call)", now: start + .milliseconds(call % 900)) }
    #expect(limiter.sweeps == 1)
    _ = limiter.take("later", now: start + .seconds(2))
    #expect(limiter.sweeps == 2)
    // Keys idle for a minute are forgotten at the next sweep: a forgotten key has a full burst.
    #expect(limiter.take("k1", now: start + .seconds(61)) == nil)
  }

  @Test func theRetryBudgetIsAShareOfCallsPlusAFloor() {
    let budget = RetryBudget(ratio: 0.2, minimumPerSecond: 2)
    for _ in 0..<10 { budget.recordCall() }
    // 2 + 0.2 * 10 = 4 retries this second.
    #expect((0..<4).allSatisfy { _ in budget.tryRetry() })
    #expect(!budget.tryRetry())
  }

  @Test func balancingPrefersTheLeastBusyReplicaAndSkipsEjectedOnes() throws {
    let set = ReplicaSet(addresses: [ListenAddress(host: "127.0.0.1", port: 1), ListenAddress(host: "127.0.0.1", port: 2)])
    let first = try #require(set.acquire(limit: 10))
    let second = try #require(set.acquire(limit: 10))
    #expect(first !== second)
    first.release()
    #expect(set.acquire(limit: 10) === first)
    second.recordFailure()
    second.release()
    for _ in 0..<3 {
      let picked = try #require(set.acquire(limit: 10))
      #expect(picked === first)
      picked.release()
    }
    second.recordSuccess()
    first.release()
    // The cap: with every replica at its limit, nothing is handed out.
    let capped = ReplicaSet(addresses: [ListenAddress(host: "127.0.0.1", port: 3)])
    #expect(capped.acquire(limit: 1) != nil)
    #expect(capped.acquire(limit: 1) == nil)
  }

  @Test func everyReplicaEjectedStillYieldsOne() throws {
    let set = ReplicaSet(addresses: [ListenAddress(host: "127.0.0.1", port: 1)])
    set.replicas[0].recordFailure()
    #expect(set.acquire(limit: 10) != nil)
  }

  @Test func withEveryReplicaEjectedTheOneWhoseEjectionEndsFirstIsTried() throws {
    let set = ReplicaSet(addresses: [ListenAddress(host: "127.0.0.1", port: 1), ListenAddress(host: "127.0.0.1", port: 2)])
    let (dead, recovering) = (set.replicas[0], set.replicas[1])
    // The dead one has failed more (a longer ejection) but has nothing in flight; the other
    // has a call in flight and its ejection ends sooner.
    for _ in 0..<4 { dead.recordFailure() }
    recovering.recordFailure()
    #expect(recovering.tryAcquire(limit: 10))
    for _ in 0..<4 {
      let picked = try #require(set.acquire(limit: 10))
      #expect(picked === recovering)
      picked.release()
    }
    recovering.release()
  }

  @Test func ejectionsDoubleUpToThirtySeconds() {
    let replica = ReplicaSet(addresses: [ListenAddress(host: "127.0.0.1", port: 1)]).replicas[0]
    for _ in 0..<10 { replica.recordFailure() }
    let left = replica.ejectedUntil.map { $0 - .now } ?? .zero
    #expect(left > .seconds(29) && left <= .seconds(30))
  }

  @Test func configurationParsesEveryKeywordAndNamesBadLines() throws {
    let configuration = try GatewayConfiguration(
      parsing: """
        # comment
        route identity.v1.* 127.0.0.1:50051 127.0.0.1:50061
        route grpc.testing.TestService 127.0.0.1:50060
        auth identity 127.0.0.1:50051
        public /grpc.testing.TestService/EmptyCall
        retry /grpc.testing.TestService/UnaryCall
        rate-limit tenant 5 10
        max-pending 7
        health-interval-ms 250
        """)
    #expect(configuration.replicas(for: "identity.v1.Users")?.count == 2)
    #expect(configuration.replicas(for: "grpc.testing.TestService")?.first?.port == 50060)
    #expect(configuration.replicas(for: "grpc.testing.Other") == nil)
    #expect(configuration.authentication == .identity(ListenAddress(host: "127.0.0.1", port: 50051)))
    #expect(configuration.tenantRateLimit == GatewayConfiguration.RateLimit(perSecond: 5, burst: 10))
    #expect(configuration.maxPendingPerReplica == 7 && configuration.healthInterval == .milliseconds(250))
    for bad in [
      "route x", "route x 1.2.3.4", "auth maybe", "rate-limit tenant 0 1", "rate-limit client 1e-17 1",
      "rate-limit client inf 1", "rate-limit client nan 1", "rate-limit client 5 inf", "bogus 1", "public NoSlash",
    ] {
      #expect(throws: GatewayConfiguration.ParseError.self) { try GatewayConfiguration(parsing: "route a.B 127.0.0.1:1\n" + bad) }
    }
  }

  @Test func linesNamingNoKnownServiceOrMethodStopStartUpWithTheirLine() throws {
    let known = ["catalog.v1.Products": ["/catalog.v1.Products/GetProduct"], "identity.v1.Sessions": ["/identity.v1.Sessions/Login"]]
    let good = "route identity.v1.* 127.0.0.1:1\nroute catalog.v1.Products 127.0.0.1:2\npublic /identity.v1.Sessions/Login\n"
    _ = try GatewayConfiguration(parsing: good, knownMethods: known)
    for (bad, line) in [
      ("route catalogv1.* 127.0.0.1:2", 4), ("route catalog.v1.Product 127.0.0.1:2", 4),
      ("public /identity.v1.Sessions/Logn", 4), ("retry /catalog.v1.Products/Nope", 4), ("auth identity 127.0.0.1:0", 4),
    ] {
      let error = #expect(throws: GatewayConfiguration.ParseError.self) {
        try GatewayConfiguration(parsing: good + bad, knownMethods: known)
      }
      #expect(error?.line == line, "\(bad)")
    }
    // Without the list (as in the tests above) only the syntax is checked.
    _ = try GatewayConfiguration(parsing: good + "route catalogv1.* 127.0.0.1:2", knownMethods: nil)
  }

  @Test func environmentVariablesAddRoutesAheadOfTheFileAndReplaceItsSettings() throws {
    let configuration = try GatewayConfiguration(
      parsing: """
        route identity.v1.* 127.0.0.1:50051
        route catalog.v1.* 127.0.0.1:50052
        auth off
        max-pending 7
        """,
      environment: [
        "GATEWAY_ROUTE": "identity.v1.* 10.0.0.1:1 10.0.0.2:2 ;; grpc.testing.* 10.0.0.3:3",
        "GATEWAY_AUTH": "identity 10.0.0.1:1",
        "GATEWAY_RATE_LIMIT": "tenant 5 10; client 1 2",
        "GATEWAY_HEALTH_INTERVAL_MS": "250",
        "UNRELATED": "route x",
      ])
    #expect(configuration.replicas(for: "identity.v1.Users")?.map(\.port) == [1, 2])
    #expect(configuration.replicas(for: "grpc.testing.TestService")?.map(\.port) == [3])
    #expect(configuration.replicas(for: "catalog.v1.Products")?.map(\.port) == [50052])
    #expect(configuration.authentication == .identity(ListenAddress(host: "10.0.0.1", port: 1)))
    #expect(configuration.tenantRateLimit == GatewayConfiguration.RateLimit(perSecond: 5, burst: 10))
    #expect(configuration.clientRateLimit == GatewayConfiguration.RateLimit(perSecond: 1, burst: 2))
    #expect(configuration.maxPendingPerReplica == 7 && configuration.healthInterval == .milliseconds(250))
  }

  @Test func theEnvironmentAloneCanConfigureTheGatewayAndABadValueNamesItsVariable() throws {
    let configuration = try GatewayConfiguration(parsing: "", environment: ["GATEWAY_ROUTE": "a.B 127.0.0.1:9"])
    #expect(configuration.replicas(for: "a.B")?.first?.port == 9)
    let error = #expect(throws: GatewayConfiguration.ParseError.self) {
      try GatewayConfiguration(parsing: "route a.B 127.0.0.1:1\n", environment: ["GATEWAY_MAX_PENDING": "lots"])
    }
    #expect(error?.variable == "GATEWAY_MAX_PENDING")
    #expect(error?.description == "gateway configuration GATEWAY_MAX_PENDING: max-pending takes a positive number")
    #expect(throws: GatewayConfiguration.ParseError.self) { try GatewayConfiguration(parsing: "", environment: [:]) }
  }

  @Test func accessLinesGiveDurationsInMillisecondsToTheMicrosecond() {
    #expect(AccessLogInterceptor.milliseconds(.microseconds(552)) == "0.552")
    #expect(AccessLogInterceptor.milliseconds(.milliseconds(12)) == "12.000")
    #expect(AccessLogInterceptor.milliseconds(.nanoseconds(1_499)) == "0.001")
    #expect(AccessLogInterceptor.milliseconds(.nanoseconds(400)) == "0.000")
    #expect(AccessLogInterceptor.milliseconds(.seconds(2) + .microseconds(5)) == "2000.005")
  }

  @Test func compiledServicesKnowKindsAndIdempotency() throws {
    let users = try #require(CompiledServices.methodsByService["identity.v1.Users"])
    #expect(users.first { $0.descriptor.method == "GetUser" }?.idempotency == .noSideEffects)
    #expect(users.first { $0.descriptor.method == "CreateUser" }?.idempotency == .unknown)
    let test = try #require(CompiledServices.methodsByService["grpc.testing.TestService"])
    #expect(test.first { $0.descriptor.method == "FullDuplexCall" }?.kind == .bidirectionalStreaming)
    #expect(test.first { $0.descriptor.method == "StreamingInputCall" }?.kind == .clientStreaming)
  }

  @Test func hopByHopHeadersAreDropped() {
    var metadata = Metadata()
    metadata.add("connection", "close")
    metadata.add("x-keep", "1")
    metadata.add("te", "trailers")
    #expect(Proxy.outgoing(metadata).map(\.key) == ["x-keep"])
    // The event-loop path drops them while stamping the request id and trace context.
    for key in ["keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "proxy-authorization"] {
      metadata.add(key, "x")
    }
    metadata.add("authorization", "Bearer t")
    let (stamped, _) = RequestIdentityInterceptor.stamp(metadata, client: "10.0.0.9", dropping: Proxy.isHopByHop)
    #expect(stamped.map(\.key) == ["x-keep", "authorization", "x-request-id", "traceparent", "x-forwarded-for"])
    #expect(stamped.firstString("x-forwarded-for") == "10.0.0.9")
  }

  @Test func theClientAddressIsAppendedToXForwardedForAndReadOnlyFromTrustedProxies() {
    var metadata = Metadata()
    metadata.add("x-forwarded-for", "203.0.113.7")
    let (stamped, _) = RequestIdentityInterceptor.stamp(metadata, client: "10.0.0.9")
    #expect(stamped.firstString("x-forwarded-for") == "203.0.113.7, 10.0.0.9")
    // The service behind the gateway takes the last entry, the one its trusted proxy wrote;
    // from any other peer the header proves nothing.
    #expect(ClientAddress.of(peer: "ipv4:127.0.0.1:5000", metadata: stamped, trustedProxies: ["127.0.0.1"]) == "10.0.0.9")
    #expect(ClientAddress.of(peer: "ipv4:127.0.0.2:5000", metadata: stamped, trustedProxies: ["127.0.0.1"]) == "127.0.0.2")
    #expect(ClientAddress.of(peer: "ipv6:[::1]:5000", metadata: Metadata(), trustedProxies: ["::1"]) == "::1")
    #expect(ClientAddressInterceptor(parsing: " 127.0.0.1, ::1 ,").trustedProxies == ["127.0.0.1", "::1"])
  }

  @Test func traceparentIsValidatedToTheLetter() {
    #expect(RequestIdentityInterceptor.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") != nil)
    #expect(RequestIdentityInterceptor.parseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
    #expect(RequestIdentityInterceptor.parseTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == nil)
    #expect(RequestIdentityInterceptor.parseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
  }
}

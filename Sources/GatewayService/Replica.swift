import GRPCHealthV1Protos
import RPCCore
import RPCHTTP2
public import ServiceKit
import Synchronization

/// One backend replica: a multiplexed HTTP/2 connection, the calls in flight on it, and whether
/// it is ejected after failures (until a health check or the ejection time says otherwise).
public final class Replica: Sendable {
  public let address: ListenAddress
  /// `address` as text, for access-log lines.
  let addressText: String
  /// For health checks and the overview (on NIO's shared loops).
  let transport: HTTP2ClientTransport
  let client: RPCClient
  private let state = Mutex(State())
  /// One connection per event loop that forwards calls, so a call is forwarded on the loop
  /// it arrived on, without hopping threads.
  private let loopTransports: EventLoopLocalTransports

  struct State {
    var outstanding = 0
    var consecutiveFailures = 0
    var ejectedUntil: ContinuousClock.Instant?
  }

  init(address: ListenAddress) {
    self.address = address
    self.addressText = address.description
    self.transport = HTTP2ClientTransport(
      host: address.host, port: address.port,
      configuration: HTTP2ClientTransport.Configuration(connectTimeout: .seconds(2)))
    self.client = RPCClient(transport: self.transport)
    self.loopTransports = EventLoopLocalTransports(
      host: address.host, port: address.port,
      configuration: HTTP2ClientTransport.Configuration(connectTimeout: .seconds(2)))
  }

  var outstanding: Int { self.state.withLock { $0.outstanding } }

  /// The connection to forward on from the current event loop (the shared one elsewhere).
  func forwardingTransport() -> HTTP2ClientTransport {
    self.loopTransports.current() ?? self.transport
  }

  /// When the current ejection ends (`nil`: not ejected since its last success).
  var ejectedUntil: ContinuousClock.Instant? { self.state.withLock { $0.ejectedUntil } }

  func isEjected(at now: ContinuousClock.Instant) -> Bool {
    self.state.withLock { $0.ejectedUntil.map { $0 > now } ?? false }
  }

  /// Counts a call in, unless `limit` calls are already in flight.
  func tryAcquire(limit: Int) -> Bool {
    self.state.withLock { state in
      guard state.outstanding < limit else { return false }
      state.outstanding += 1
      return true
    }
  }

  func release() {
    self.state.withLock { $0.outstanding -= 1 }
  }

  /// A connection failure or UNAVAILABLE: ejects the replica for a time that doubles with each
  /// consecutive failure (0.5 s up to 30 s).
  func recordFailure() {
    self.state.withLock { state in
      state.consecutiveFailures += 1
      let exponent = min(state.consecutiveFailures - 1, 6)
      state.ejectedUntil = .now + .milliseconds(min(500 * (1 << exponent), 30_000))
    }
  }

  func recordSuccess() {
    self.state.withLock { state in
      state.consecutiveFailures = 0
      state.ejectedUntil = nil
    }
  }

  /// One health check: `grpc.health.v1.Health/Check` for the whole server.
  func checkHealth(timeout: Duration) async -> Bool {
    var options = CallOptions.defaults
    options.timeout = timeout
    do {
      let response = try await Grpc_Health_V1_Health.Client(wrapping: self.client).check(
        Grpc_Health_V1_HealthCheckRequest(), options: options)
      return response.status == .serving
    } catch {
      return false
    }
  }

  func close() async {
    await self.transport.close()
    await self.loopTransports.close()
  }
}

/// The replicas of one service and the choice among them: least outstanding calls among the
/// replicas not ejected (ties broken round robin); when every replica is ejected, the one
/// whose ejection ends first is still tried rather than failing outright.
public final class ReplicaSet: Sendable {
  public let replicas: [Replica]
  private let next = Atomic<Int>(0)

  init(addresses: [ListenAddress]) {
    self.replicas = addresses.map(Replica.init(address:))
  }

  /// A replica for the next attempt, avoiding `excluded` when another one is available, with
  /// its call counted in; `nil` when every candidate has `limit` calls in flight.
  func acquire(excluding excluded: Set<ObjectIdentifier> = [], limit: Int) -> Replica? {
    let count = self.replicas.count
    if count == 1 {
      let replica = self.replicas[0]
      return replica.tryAcquire(limit: limit) ? replica : nil
    }
    let now = ContinuousClock.now
    let start = self.next.wrappingAdd(1, ordering: .relaxed).oldValue
    // Candidates in order of preference: not excluded and not ejected; else not excluded; else
    // any. In the first class, least outstanding first; in the others (ejected replicas), the
    // one whose ejection ends first (a dead replica fails its calls at once, so it would
    // always have the fewest in flight), then least outstanding; ties in rotation order.
    for pass in 0..<3 {
      var tried = Set<ObjectIdentifier>()
      while true {
        var best: Replica?
        var bestRank = (ejectionEnd: ContinuousClock.Instant?.none, outstanding: Int.max)
        for offset in 0..<count {
          let replica = self.replicas[Int(UInt(bitPattern: start &+ offset) % UInt(count))]
          let id = ObjectIdentifier(replica)
          if tried.contains(id) { continue }
          if pass < 2 && excluded.contains(id) { continue }
          if pass == 0 && replica.isEjected(at: now) { continue }
          let rank = (ejectionEnd: pass == 0 ? nil : replica.ejectedUntil.map { max($0, now) }, outstanding: replica.outstanding)
          if best == nil || Self.ranks(rank, before: bestRank) {
            best = replica
            bestRank = rank
          }
        }
        guard let best else { break }
        if best.tryAcquire(limit: limit) { return best }
        tried.insert(ObjectIdentifier(best))
      }
      // A class with candidates that are all at their limit: no fallback to the next class.
      if !tried.isEmpty { return nil }
    }
    return nil
  }

  /// Whether `rank` comes before `other`: no ejection (or an ended one) first, then the
  /// earlier end, then fewer calls in flight.
  private static func ranks(
    _ rank: (ejectionEnd: ContinuousClock.Instant?, outstanding: Int),
    before other: (ejectionEnd: ContinuousClock.Instant?, outstanding: Int)
  ) -> Bool {
    switch (rank.ejectionEnd, other.ejectionEnd) {
    case (nil, .some): return true
    case (.some, nil): return false
    case (.some(let end), .some(let otherEnd)) where end != otherEnd: return end < otherEnd
    default: return rank.outstanding < other.outstanding
    }
  }
}

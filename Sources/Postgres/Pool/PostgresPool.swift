public import Logging
import Synchronization

/// A bounded pool of ``PostgresConnection``s.
///
/// ```swift
/// let pool = PostgresPool(configuration: .init(connection: config), logger: logger)
/// async let maintenance: Void = pool.run()   // optional: min idle, idle timeout, health checks
/// let name = try await pool.withConnection { conn in
///   try await conn.query("SELECT name FROM users WHERE id = \(id)").first?.decode(String.self)
/// }
/// await pool.close()
/// ```
///
/// - At most ``Configuration-swift.struct/maximumConnections`` sessions exist at once; further
///   requests wait in FIFO order up to ``Configuration-swift.struct/acquireTimeout`` and then
///   fail with ``PostgresError/Code-swift.struct/timeout`` (map it to UNAVAILABLE).
/// - Every lease health-checks the idle connection it hands out (without a round trip) and
///   replaces it when the server closed it, so the pool recovers by itself after
///   `pg_terminate_backend` or a server restart: new leases get fresh connections.
/// - Connections that come back broken or inside a transaction are closed, not reused.
/// - ``run()`` adds background upkeep: keeps ``Configuration-swift.struct/minimumIdleConnections``
///   open, closes connections idle longer than ``Configuration-swift.struct/idleTimeout``, and
///   health-checks idle connections. The pool works without it.
public final class PostgresPool: Sendable {
  /// Pool settings.
  public struct Configuration: Sendable {
    /// How each connection connects.
    public var connection: PostgresConfiguration
    /// Upper bound on open connections. Default: 10.
    public var maximumConnections: Int = 10
    /// Connections ``PostgresPool/run()`` keeps open even when idle. Default: 0.
    public var minimumIdleConnections: Int = 0
    /// How long a request waits for a connection before failing with
    /// ``PostgresError/Code-swift.struct/timeout``. Default: 10 seconds.
    public var acquireTimeout: Duration = .seconds(10)
    /// Idle connections beyond the minimum are closed after this long (by ``PostgresPool/run()``).
    /// Default: 60 seconds.
    public var idleTimeout: Duration = .seconds(60)
    /// How often ``PostgresPool/run()`` does its upkeep. Default: 5 seconds.
    public var maintenanceInterval: Duration = .seconds(5)
    /// The loops that wait for the connections' answers. A connection opened by a task running
    /// on one of them stays on it, and leases from such a task prefer its loop's connections.
    /// Default: ``PostgresEventLoopGroup/shared``.
    public var eventLoopGroup: PostgresEventLoopGroup = .shared
    /// How long ``PostgresPool/close()`` waits for leased connections to come back before it
    /// gives up on them (they are closed if they ever do). Default: 5 seconds.
    public var closeTimeout: Duration = .seconds(5)

    public init(connection: PostgresConfiguration) {
      self.connection = connection
    }
  }

  /// A snapshot of the pool's counters.
  public struct Statistics: Sendable, Hashable {
    public var idle: Int
    public var leased: Int
    public var connecting: Int
    public var waiting: Int
    public var isClosed: Bool
  }

  typealias Machine = PoolStateMachine<PostgresConnection>

  private enum WaiterPhase {
    case pending
    case waiting(CheckedContinuation<Machine.Grant, any Error>)
    case resolved(Result<Machine.Grant, any Error>)
  }

  /// A ``close()`` waiting for the pool to drain; resolved with whether it did.
  private enum DrainWaiterPhase {
    case pending
    case waiting(CheckedContinuation<Bool, Never>)
    case resolved(Bool)
  }

  private struct State {
    var machine: Machine
    var waiters: [Int: WaiterPhase] = [:]
    var nextWaiterID = 0
    var drainWaiters: [Int: DrainWaiterPhase] = [:]
  }

  /// The pool's configuration.
  public let configuration: Configuration
  private let logger: Logger
  private let state: Mutex<State>

  /// Creates a pool. No connection is opened until the first lease (or ``run()``).
  public init(configuration: Configuration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
    self.state = Mutex(
      State(
        machine: Machine(
          maximumConnections: configuration.maximumConnections,
          minimumIdleConnections: configuration.minimumIdleConnections)))
  }

  /// Current counters.
  public var statistics: Statistics {
    self.state.withLock {
      Statistics(
        idle: $0.machine.idle.count, leased: $0.machine.leased, connecting: $0.machine.connecting,
        waiting: $0.machine.waiters.count, isClosed: $0.machine.isClosed)
    }
  }

  // MARK: Leases

  /// Leases a connection for the duration of `body`.
  ///
  /// The connection returns to the pool when `body` ends; one left broken or inside a
  /// transaction is closed instead. Do not keep the connection beyond `body`.
  ///
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code-swift.struct/timeout`` (no
  ///   connection within the acquire timeout), ``PostgresError/Code-swift.struct/poolClosed``,
  ///   ``PostgresError/Code-swift.struct/connectionFailed``; `CancellationError`; or what `body`
  ///   throws.
  public func withConnection<Result>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> Result
  ) async throws -> Result {
    let connection = try await self.lease()
    defer { self.release(connection) }
    return try await body(connection)
  }

  /// Leases a connection and runs `body` in a transaction on it (see
  /// ``PostgresConnection/withTransaction(isolationLevel:readOnly:isolation:_:)``).
  public func withTransaction<Result>(
    isolationLevel: PostgresIsolationLevel? = nil,
    readOnly: Bool = false,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> Result
  ) async throws -> Result {
    let connection = try await self.lease()
    defer { self.release(connection) }
    return try await connection.withTransaction(isolationLevel: isolationLevel, readOnly: readOnly, body)
  }

  /// Runs one statement on a leased connection.
  @discardableResult
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    let connection = try await self.lease()
    defer { self.release(connection) }
    return try await connection.query(query)
  }

  /// Runs a prepared statement on a leased connection (prepared once per connection).
  @inlinable
  public func execute<Statement: PostgresPreparedStatement>(
    _ statement: Statement
  ) async throws -> [Statement.Row] {
    // The connection goes back before the rows are decoded; the decoding specializes in the
    // caller's module (see ``PostgresConnection/execute(_:)``).
    let rows = try await self.executePrepared(
      name: Statement.name, sql: Statement.sql, bindings: statement.makeBindings())
    return try rows.decodeRows(with: statement)
  }

  @usableFromInline
  func executePrepared(name: String, sql: String, bindings: PostgresBindings) async throws -> PostgresRows {
    let connection = try await self.lease()
    defer { self.release(connection) }
    return try await connection.executePrepared(name: name, sql: sql, bindings: bindings)
  }

  func lease() async throws -> PostgresConnection {
    try Task.checkCancellation()
    // On an event loop thread: prefer a connection that loop serves (no thread hop at all).
    let loop = PostgresEventLoop.current
    let (id, decision) = self.state.withLock { state -> (Int, Machine.LeaseDecision) in
      let id = state.nextWaiterID
      state.nextWaiterID += 1
      let decision = state.machine.lease(waiter: id, preferring: { loop != nil && $0.eventLoop === loop })
      if case .wait = decision { state.waiters[id] = .pending }
      return (id, decision)
    }
    var grant: Machine.Grant
    switch decision {
    case .use(let connection): grant = .connection(connection)
    case .connect: grant = .connectSlot
    case .closed: throw PostgresError(code: .poolClosed, message: "the pool is closed")
    case .wait: grant = try await self.waitForGrant(id)
    }

    if case .connection(let connection) = grant {
      // Usually decided without waiting; only a connection that heard from the server while
      // idle is looked at more closely.
      let healthy = connection.checkIdleHealthWithoutWaiting()
      if healthy == true {
        return connection
      }
      if healthy == nil, await connection.checkIdleHealth() {
        return connection
      }
      self.logger.debug(
        "discarding dead idle connection", metadata: [LogKey.connectionID: "\(connection.id)"])
      connection.closeInBackground()
      switch self.state.withLock({ $0.machine.replaceBrokenLease() }) {
      case .closed: throw PostgresError(code: .poolClosed, message: "the pool is closed")
      default: grant = .connectSlot
      }
    }
    return try await self.openConnection()
  }

  /// Uses a connect slot.
  private func openConnection() async throws -> PostgresConnection {
    let connection: PostgresConnection
    do {
      connection = try await PostgresConnection.connect(
        configuration: self.configuration.connection, logger: self.logger,
        eventLoop: self.configuration.eventLoopGroup.next())
    } catch {
      self.apply(self.state.withLock { $0.machine.connectFailed() })
      throw error
    }
    let (keep, actions) = self.state.withLock { $0.machine.connectSucceeded() }
    self.apply(actions)
    guard keep else {
      connection.closeInBackground()
      throw PostgresError(code: .poolClosed, message: "the pool is closed")
    }
    return connection
  }

  private func waitForGrant(_ id: Int) async throws -> Machine.Grant {
    defer { self.state.withLock { _ = $0.waiters.removeValue(forKey: id) } }
    let timeout = self.configuration.acquireTimeout
    return try await withTaskCancellationHandler {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          do {
            try await Task.sleep(for: timeout)
          } catch {
            return  // cancelled: the grant arrived, or the task was cancelled (handled below)
          }
          self.failWaiter(
            id,
            PostgresError(
              code: .timeout, message: "no connection available within the acquire timeout"))
        }
        defer { group.cancelAll() }
        return try await withCheckedThrowingContinuation { continuation in
          let early = self.state.withLock { state -> Result<Machine.Grant, any Error>? in
            switch state.waiters[id] {
            case .pending:
              state.waiters[id] = .waiting(continuation)
              return nil
            case .resolved(let result):
              state.waiters[id] = nil
              return result
            case .waiting, .none:
              preconditionFailure("pool waiter \(id) registered twice or never queued")
            }
          }
          if let early { continuation.resume(with: early) }
        }
      }
    } onCancel: {
      self.failWaiter(id, CancellationError())
    }
  }

  /// Fails a queued waiter (timeout, cancellation). No-op when it already got a grant.
  private func failWaiter(_ id: Int, _ error: any Error) {
    let continuation = self.state.withLock { state -> CheckedContinuation<Machine.Grant, any Error>? in
      guard state.machine.removeWaiter(id) else { return nil }
      return Self.resolve(&state, id, .failure(error))
    }
    continuation?.resume(throwing: error)
  }

  /// Records a waiter's outcome; returns its continuation when it is already suspended.
  private static func resolve(
    _ state: inout State, _ id: Int, _ result: Result<Machine.Grant, any Error>
  ) -> CheckedContinuation<Machine.Grant, any Error>? {
    switch state.waiters[id] {
    case .waiting(let continuation):
      state.waiters[id] = nil
      return continuation
    case .pending:
      state.waiters[id] = .resolved(result)
      return nil
    case .resolved, .none:
      preconditionFailure("pool waiter \(id) resolved twice")
    }
  }

  func release(_ connection: PostgresConnection) {
    let reusable = connection.isReusable
    if !reusable {
      self.logger.debug(
        "closing connection returned unusable", metadata: [LogKey.connectionID: "\(connection.id)"])
    }
    let actions = self.state.withLock {
      $0.machine.release(connection, reusable: reusable, now: .now)
    }
    self.apply(actions)
  }

  /// Carries out the state machine's decisions, outside the lock.
  private func apply(_ actions: Machine.Actions) {
    if actions.isEmpty { return }
    for connection in actions.close {
      connection.closeInBackground()
    }
    var resumptions: [(CheckedContinuation<Machine.Grant, any Error>, Result<Machine.Grant, any Error>)] = []
    var drainWaiters: [CheckedContinuation<Bool, Never>] = []
    self.state.withLock { state in
      for (waiter, grant) in actions.grants {
        if let continuation = Self.resolve(&state, waiter, .success(grant)) {
          resumptions.append((continuation, .success(grant)))
        }
      }
      for waiter in actions.failedWaiters {
        let error = PostgresError(code: .poolClosed, message: "the pool is closed")
        if let continuation = Self.resolve(&state, waiter, .failure(error)) {
          resumptions.append((continuation, .failure(error)))
        }
      }
      if actions.drained {
        for (id, phase) in state.drainWaiters {
          switch phase {
          case .pending: state.drainWaiters[id] = .resolved(true)
          case .waiting(let continuation):
            state.drainWaiters[id] = nil
            drainWaiters.append(continuation)
          case .resolved: break
          }
        }
      }
    }
    for (continuation, result) in resumptions { continuation.resume(with: result) }
    for waiter in drainWaiters { waiter.resume(returning: true) }
  }

  // MARK: Lifecycle

  /// Upkeep loop: every ``Configuration-swift.struct/maintenanceInterval`` it opens connections
  /// up to the minimum idle count, closes connections idle too long and health-checks idle
  /// ones. Returns shortly (≤ 100 ms) after the pool is closed; when the calling task is
  /// cancelled it closes the pool and returns. Run it in a task you own, like a service's
  /// `run()`.
  public func run() async {
    let clock = ContinuousClock()
    while !self.isClosed {
      await self.performMaintenance()
      // Sleep in short steps so close() ends the loop promptly.
      let deadline = clock.now + self.configuration.maintenanceInterval
      while !self.isClosed, clock.now < deadline {
        do {
          try await Task.sleep(for: min(.milliseconds(100), deadline - clock.now))
        } catch {
          await self.close()
          return
        }
      }
    }
  }

  private var isClosed: Bool { self.state.withLock { $0.machine.isClosed } }

  func performMaintenance() async {
    let plan = self.state.withLock {
      $0.machine.planMaintenance(now: .now, idleTimeout: self.configuration.idleTimeout)
    }
    for connection in plan.close { connection.closeInBackground() }
    for connection in plan.check {
      _ = await connection.checkIdleHealth()
      self.release(connection)
    }
    for _ in 0..<plan.connect {
      do {
        let connection = try await PostgresConnection.connect(
          configuration: self.configuration.connection, logger: self.logger,
        eventLoop: self.configuration.eventLoopGroup.next())
        self.apply(self.state.withLock { $0.machine.connectedForIdle(connection, now: .now) })
      } catch {
        self.logger.debug("pool could not open an idle connection", metadata: [LogKey.error: "\(error)"])
        self.apply(self.state.withLock { $0.machine.connectFailed() })
      }
    }
  }

  /// Closes the pool: waiting requests fail with ``PostgresError/Code-swift.struct/poolClosed``,
  /// idle connections close now, leased ones when they are returned. Returns once every
  /// connection is closed, or after ``Configuration-swift.struct/closeTimeout`` with a warning
  /// naming how many were still leased (a lease whose holder never ends, such as a task stuck
  /// in a query, must not keep a stopping process alive); those are closed if they come back.
  /// Idempotent.
  public func close() async {
    let actions = self.state.withLock { $0.machine.close() }
    self.apply(actions)
    if await self.waitUntilDrained(timeout: self.configuration.closeTimeout) { return }
    let statistics = self.statistics
    self.logger.warning(
      "pool closed with connections still leased",
      metadata: [
        "pg.pool.leased": "\(statistics.leased)",
        "pg.pool.connecting": "\(statistics.connecting)",
        "pg.pool.close_timeout": "\(self.configuration.closeTimeout)",
      ])
  }

  /// Waits until nothing is leased or connecting any more, for at most `timeout`. Returns
  /// whether the pool drained.
  private func waitUntilDrained(timeout: Duration) async -> Bool {
    let id = self.state.withLock { state -> Int? in
      if state.machine.isDrained { return nil }
      let id = state.nextWaiterID
      state.nextWaiterID += 1
      state.drainWaiters[id] = .pending
      return id
    }
    guard let id else { return true }
    // Unstructured, so that the timeout holds even when the caller is already cancelled (run()
    // closes the pool from a cancelled task) and ends as soon as the pool drains.
    let timer = Task {
      try? await Task.sleep(for: timeout)
      self.resolveDrainWaiter(id, drained: false)
    }
    defer { timer.cancel() }
    return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
      let early = self.state.withLock { state -> Bool? in
        switch state.drainWaiters[id] {
        case .pending:
          state.drainWaiters[id] = .waiting(continuation)
          return nil
        case .resolved(let drained):
          state.drainWaiters[id] = nil
          return drained
        case .waiting, .none:
          preconditionFailure("drain waiter \(id) registered twice or never queued")
        }
      }
      if let early { continuation.resume(returning: early) }
    }
  }

  /// Ends a drain wait (no-op when it already ended).
  private func resolveDrainWaiter(_ id: Int, drained: Bool) {
    let continuation = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
      switch state.drainWaiters[id] {
      case .pending:
        state.drainWaiters[id] = .resolved(drained)
        return nil
      case .waiting(let continuation):
        state.drainWaiters[id] = nil
        return continuation
      case .resolved, .none:
        return nil
      }
    }
    continuation?.resume(returning: drained)
  }
}

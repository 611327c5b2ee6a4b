/// The pool's bookkeeping as a value type: which connections are idle, how many are leased or
/// being opened, who waits. It performs no I/O; every mutating method returns what the caller
/// must do (hand a connection or a connect slot to a waiter, close connections). Tested without
/// a server.
///
/// Invariant: `idle.count + leased + connecting <= maximumConnections`, and waiters exist only
/// while that total is at the maximum (or while every slot is busy connecting).
struct PoolStateMachine<Connection> {
  struct IdleEntry {
    var connection: Connection
    var since: ContinuousClock.Instant
  }

  /// What a waiter receives.
  enum Grant {
    /// A connection to use (the caller health-checks it first).
    case connection(Connection)
    /// Permission to open a new connection (counted in `connecting`).
    case connectSlot
  }

  enum LeaseDecision {
    case use(Connection)
    case connect
    case wait
    case closed
  }

  /// Work for the caller after a state change.
  struct Actions {
    var close: [Connection] = []
    var grants: [(waiter: Int, grant: Grant)] = []
    var failedWaiters: [Int] = []
    /// The pool is closed and nothing is leased or connecting any more.
    var drained = false

    /// Whether there is nothing to do.
    var isEmpty: Bool { self.close.isEmpty && self.grants.isEmpty && self.failedWaiters.isEmpty && !self.drained }
  }

  struct MaintenancePlan {
    var close: [Connection] = []
    var check: [Connection] = []
    var connect = 0
  }

  let maximumConnections: Int
  let minimumIdleConnections: Int
  private(set) var idle: [IdleEntry] = []
  private(set) var leased = 0
  private(set) var connecting = 0
  private(set) var waiters: [Int] = []
  private(set) var isClosed = false

  init(maximumConnections: Int, minimumIdleConnections: Int) {
    precondition(maximumConnections >= 1, "maximumConnections must be at least 1")
    self.maximumConnections = maximumConnections
    self.minimumIdleConnections = min(max(0, minimumIdleConnections), maximumConnections)
  }

  var total: Int { self.idle.count + self.leased + self.connecting }

  /// A request for a connection. On `.wait`, `waiter` is queued (FIFO). Among idle
  /// connections, the most recently used one for which `isPreferred` holds is taken first (the
  /// pool prefers connections served by the caller's event loop).
  mutating func lease(waiter: Int, preferring isPreferred: (Connection) -> Bool = { _ in false }) -> LeaseDecision {
    if self.isClosed { return .closed }
    if let index = self.idle.lastIndex(where: { isPreferred($0.connection) }) {
      let entry = self.idle.remove(at: index)
      self.leased += 1
      return .use(entry.connection)
    }
    if let entry = self.idle.popLast() {
      // Most recently used first: keeps a warm working set, lets the rest time out.
      self.leased += 1
      return .use(entry.connection)
    }
    if self.total < self.maximumConnections {
      self.connecting += 1
      return .connect
    }
    self.waiters.append(waiter)
    return .wait
  }

  /// Removes a waiter that gave up (timeout, cancellation). Returns whether it was queued.
  mutating func removeWaiter(_ waiter: Int) -> Bool {
    guard let index = self.waiters.firstIndex(of: waiter) else { return false }
    self.waiters.remove(at: index)
    return true
  }

  /// A connect slot produced a connection that its opener will use. Returns `false` if the
  /// pool closed meanwhile (the caller closes the connection; the slot is released).
  mutating func connectSucceeded() -> (keep: Bool, actions: Actions) {
    self.connecting -= 1
    if self.isClosed {
      var actions = Actions()
      actions.drained = self.isDrained
      return (false, actions)
    }
    self.leased += 1
    return (true, Actions())
  }

  /// A connect slot failed. The slot goes to the next waiter, which tries for itself.
  mutating func connectFailed() -> Actions {
    self.connecting -= 1
    return self.handFreedSlotToWaiter()
  }

  /// A leased connection comes back. Unusable connections (broken, mid-transaction) are closed
  /// and their slot handed on.
  mutating func release(_ connection: Connection, reusable: Bool, now: ContinuousClock.Instant) -> Actions {
    self.leased -= 1
    if self.isClosed || !reusable {
      var actions = self.handFreedSlotToWaiter()
      actions.close.append(connection)
      return actions
    }
    if !self.waiters.isEmpty {
      let waiter = self.waiters.removeFirst()
      self.leased += 1
      var actions = Actions()
      actions.grants.append((waiter, .connection(connection)))
      return actions
    }
    self.idle.append(IdleEntry(connection: connection, since: now))
    return Actions()
  }

  /// The idle connection just leased failed its health check: its slot becomes a connect slot
  /// for the same caller (`.connect`), unless the pool closed (`.closed`).
  mutating func replaceBrokenLease() -> LeaseDecision {
    self.leased -= 1
    if self.isClosed { return .closed }
    self.connecting += 1
    return .connect
  }

  /// A connection opened by maintenance (min idle) is ready.
  mutating func connectedForIdle(_ connection: Connection, now: ContinuousClock.Instant) -> Actions {
    self.connecting -= 1
    self.leased += 1
    return self.release(connection, reusable: true, now: now)
  }

  /// Closes the pool: idle connections are to be closed, waiters failed; leased connections are
  /// closed when they come back.
  mutating func close() -> Actions {
    var actions = Actions()
    if self.isClosed {
      actions.drained = self.isDrained
      return actions
    }
    self.isClosed = true
    actions.close = self.idle.map(\.connection)
    self.idle.removeAll()
    actions.failedWaiters = self.waiters
    self.waiters.removeAll()
    actions.drained = self.isDrained
    return actions
  }

  var isDrained: Bool { self.isClosed && self.leased == 0 && self.connecting == 0 }

  /// Periodic upkeep: closes connections idle longer than `idleTimeout` (keeping the minimum),
  /// takes the other idle connections out for a health check (they count as leased until
  /// released), and reserves connect slots to refill the minimum.
  mutating func planMaintenance(now: ContinuousClock.Instant, idleTimeout: Duration) -> MaintenancePlan {
    var plan = MaintenancePlan()
    if self.isClosed { return plan }
    // Oldest first.
    while self.idle.count > self.minimumIdleConnections, let oldest = self.idle.first,
      now - oldest.since >= idleTimeout
    {
      plan.close.append(oldest.connection)
      self.idle.removeFirst()
    }
    plan.check = self.idle.map(\.connection)
    self.leased += self.idle.count
    self.idle.removeAll()
    let missing = self.minimumIdleConnections - plan.check.count - self.connecting
    let room = self.maximumConnections - self.total
    plan.connect = max(0, min(missing, room))
    self.connecting += plan.connect
    return plan
  }

  private mutating func handFreedSlotToWaiter() -> Actions {
    var actions = Actions()
    if !self.isClosed, !self.waiters.isEmpty {
      let waiter = self.waiters.removeFirst()
      self.connecting += 1
      actions.grants.append((waiter, .connectSlot))
    }
    actions.drained = self.isDrained
    return actions
  }
}

extension PoolStateMachine: Sendable where Connection: Sendable {}
extension PoolStateMachine.IdleEntry: Sendable where Connection: Sendable {}
extension PoolStateMachine.Grant: Sendable where Connection: Sendable {}
extension PoolStateMachine.LeaseDecision: Sendable where Connection: Sendable {}
extension PoolStateMachine.Actions: Sendable where Connection: Sendable {}
extension PoolStateMachine.MaintenancePlan: Sendable where Connection: Sendable {}

import Postgres
import Synchronization
import Testing

/// A lease holder parked until the test lets it go (a task stuck in a query, say).
private final class LeaseHolder: Sendable {
  private let parked = Mutex<CheckedContinuation<Void, Never>?>(nil)
  private let leased = Atomic<Bool>(false)

  var hasLease: Bool { self.leased.load(ordering: .acquiring) }

  func hold() async {
    await withCheckedContinuation { continuation in
      self.parked.withLock { $0 = continuation }
      self.leased.store(true, ordering: .releasing)
    }
  }

  func letGo() {
    self.parked.withLock { continuation in
      continuation?.resume()
      continuation = nil
    }
  }
}

private final class Flag: Sendable {
  private let value = Atomic<Bool>(false)
  var isSet: Bool { self.value.load(ordering: .acquiring) }
  func set() { self.value.store(true, ordering: .releasing) }
}

/// Leases a connection in a task that keeps it until `holder.letGo()`.
private func holdLease(_ pool: PostgresPool, _ holder: LeaseHolder) async throws -> Task<Void, any Error> {
  let task = Task {
    try await pool.withConnection { connection in
      try await connection.query("SELECT 1")
      await holder.hold()
    }
  }
  for _ in 0..<500 where !holder.hasLease {
    try await Task.sleep(for: .milliseconds(10))
  }
  try #require(holder.hasLease)
  return task
}

@Suite("PostgresPool close")
struct PoolCloseTests {
  @Test func closeGivesUpOnALeaseThatIsNeverReturned() async throws {
    try await withTestSchema("pool_close_bounded") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.closeTimeout = .milliseconds(300)
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      let holder = LeaseHolder()
      let lease = try await holdLease(pool, holder)

      // close() runs in its own task so that, were it unbounded, the test fails instead of hanging.
      let closed = Flag()
      let start = ContinuousClock.now
      let closing = Task {
        await pool.close()
        closed.set()
      }
      for _ in 0..<300 where !closed.isSet {
        try await Task.sleep(for: .milliseconds(10))
      }
      let elapsed = ContinuousClock.now - start
      #expect(closed.isSet, "close() returned while a connection was leased")
      #expect(elapsed >= .milliseconds(250))
      #expect(elapsed < .seconds(2))
      let stats = pool.statistics
      #expect(stats.isClosed && stats.leased == 1 && stats.idle == 0)

      // The lease comes back after all: the connection is closed, not kept.
      holder.letGo()
      try await lease.value
      await closing.value
      #expect(pool.statistics.leased == 0 && pool.statistics.idle == 0)
      await pool.close()  // drained now: returns at once
    }
  }

  @Test func closeWaitsForALeaseReturnedWithinTheTimeout() async throws {
    try await withTestSchema("pool_close_waits") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.closeTimeout = .seconds(10)
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      let holder = LeaseHolder()
      let lease = try await holdLease(pool, holder)
      Task {
        try await Task.sleep(for: .milliseconds(200))
        holder.letGo()
      }
      let start = ContinuousClock.now
      await pool.close()
      let elapsed = ContinuousClock.now - start
      #expect(elapsed >= .milliseconds(150))
      #expect(elapsed < .seconds(5))
      #expect(pool.statistics.leased == 0)
      try await lease.value
    }
  }

  @Test func closeFromACancelledTaskStillWaitsForLeases() async throws {
    try await withTestSchema("pool_close_cancelled") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.closeTimeout = .seconds(10)
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      let holder = LeaseHolder()
      let lease = try await holdLease(pool, holder)
      let closing = Task {
        withUnsafeCurrentTask { $0?.cancel() }
        await pool.close()
        return pool.statistics.leased
      }
      try await Task.sleep(for: .milliseconds(200))
      holder.letGo()
      #expect(await closing.value == 0, "close() waited for the lease although its task was cancelled")
      try await lease.value
    }
  }
}

import Postgres
import Synchronization
import Testing

/// Shared counters for concurrent tasks.
private final class Tracker: Sendable {
  let active = Atomic<Int>(0)
  let peak = Atomic<Int>(0)
  let pids = Mutex<Set<Int32>>([])
}

@Suite("PostgresPool")
struct PoolTests {
  @Test func respectsMaximumUnderConcurrency() async throws {
    try await withTestSchema("pool_max") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.maximumConnections = 3
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      let tracker = Tracker()
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<24 {
          group.addTask {
            try await pool.withConnection { conn in
              let now = tracker.active.wrappingAdd(1, ordering: .relaxed).newValue
              tracker.peak.max(now, ordering: .relaxed)
              tracker.pids.withLock { _ = $0.insert(conn.backendPID) }
              try await conn.query("SELECT pg_sleep(0.02)")
              tracker.active.wrappingSubtract(1, ordering: .relaxed)
            }
          }
        }
        try await group.waitForAll()
      }
      #expect(tracker.peak.load(ordering: .relaxed) <= 3)
      #expect(tracker.peak.load(ordering: .relaxed) >= 2)
      #expect(tracker.pids.withLock { $0.count } <= 3)
      let stats = pool.statistics
      #expect(stats.leased == 0 && stats.waiting == 0 && stats.idle <= 3)

      // The server agrees: no more than 3 sessions with our application name.
      let sessions = try await pool.query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(config.applicationName ?? "")")
      #expect(try sessions.first?.decode(Int64.self) ?? 99 <= 3)
      await pool.close()
      #expect(pool.statistics.isClosed)
      #expect(pool.statistics.idle == 0)
    }
  }

  @Test func acquireTimesOut() async throws {
    try await withTestSchema("pool_timeout") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.maximumConnections = 1
      poolConfig.acquireTimeout = .milliseconds(200)
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      try await pool.withConnection { _ in
        let start = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) {
          try await pool.withConnection { conn in try await conn.query("SELECT 1") }
        }
        let waited = ContinuousClock.now - start
        #expect(error?.code == .timeout)
        #expect(error?.isPoolUnavailable == true)
        #expect(waited >= .milliseconds(180) && waited < .seconds(2))
      }
      // The slot is free again.
      #expect(try await pool.query("SELECT 2::int4").first?.decode(Int32.self) == 2)

      // A cancelled waiter leaves promptly too.
      try await pool.withConnection { _ in
        let waiter = Task { try await pool.withConnection { _ in } }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
      }
      await pool.close()
      let closed = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
      #expect(closed?.code == .poolClosed)
    }
  }

  @Test(.enabled(if: TestCluster.shared.isPrivateCluster))
  func recoversAfterBackendsAreTerminated() async throws {
    try await withTestSchema("pool_recover") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.maximumConnections = 3
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      // Warm up three connections.
      let tracker = Tracker()
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<3 {
          group.addTask {
            try await pool.withConnection { conn in
              tracker.pids.withLock { _ = $0.insert(conn.backendPID) }
              try await conn.query("SELECT pg_sleep(0.05)")
            }
          }
        }
        try await group.waitForAll()
      }
      #expect(pool.statistics.idle == 3)

      let admin = try await PostgresConnection.connect(
        configuration: try await TestCluster.shared.adminConfiguration(), logger: testLogger)
      let app = config.applicationName ?? ""
      let terminated = try await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \(app)"
      ).decode(Bool.self)
      #expect(terminated.count == 3 && terminated.allSatisfy { $0 })
      // Wait until the server has ended them.
      for _ in 0..<100 {
        let left = try #require(try await admin.query(
          "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(app)").first).decode(Int64.self)
        if left == 0 { break }
        try await Task.sleep(for: .milliseconds(20))
      }
      await admin.close()

      // Every new lease works, on fresh sessions.
      for _ in 0..<5 {
        let pid = try await pool.withConnection { conn in
          try #require(try await conn.query("SELECT pg_backend_pid()").first).decode(Int32.self)
        }
        #expect(!tracker.pids.withLock { $0.contains(pid) })
      }
      await pool.close()
    }
  }

  @Test func brokenAndDirtyConnectionsAreNotReused() async throws {
    try await withTestSchema("pool_dirty") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.maximumConnections = 2
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      // Leaving a transaction open makes the pool discard the connection.
      let first = try await pool.withConnection { conn in
        try await conn.query("BEGIN")
        return conn.backendPID
      }
      let second = try await pool.withConnection { conn in
        #expect(conn.isIdle)
        return conn.backendPID
      }
      #expect(first != second)
      // A connection whose session dies mid-lease is replaced.
      let error = await #expect(throws: PostgresError.self) {
        try await pool.withConnection { conn in
          try await conn.query("SELECT pg_terminate_backend(pg_backend_pid())")
        }
      }
      #expect(error?.isConnectionError == true)
      let third = try await pool.withConnection { conn in conn.backendPID }
      #expect(third != second)

      // withTransaction through the pool.
      try await pool.query("CREATE TABLE t (n int)")
      _ = try await pool.withTransaction { tx in try await tx.query("INSERT INTO t VALUES (1)") }
      #expect(try await pool.query("SELECT count(*) FROM t").first?.decode(Int64.self) == 1)
      await pool.close()
    }
  }

  @Test func runKeepsMinimumIdleConnections() async throws {
    try await withTestSchema("pool_min") { config in
      var poolConfig = PostgresPool.Configuration(connection: config)
      poolConfig.maximumConnections = 4
      poolConfig.minimumIdleConnections = 2
      poolConfig.maintenanceInterval = .milliseconds(50)
      let pool = PostgresPool(configuration: poolConfig, logger: testLogger)
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await pool.run() }
        for _ in 0..<100 where pool.statistics.idle < 2 {
          try await Task.sleep(for: .milliseconds(20))
        }
        #expect(pool.statistics.idle == 2)
        await pool.close()
        try await group.waitForAll()
      }
    }
  }
}

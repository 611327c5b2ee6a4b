import Postgres
import PostgresRPC
import PostgresTestSupport
import RPCCore
import Synchronization
import Testing

@Suite("Database errors as gRPC statuses")
struct DatabaseErrorMappingTests {
  let mapping = DatabaseErrorMapping(constraintMessages: ["items_sku_key": "An item with this SKU already exists."])

  func withItems(_ body: (PostgresPool) async throws -> Void) async throws {
    try await withTestSchema("rpcmap") { configuration in
      let pool = PostgresPool(configuration: PostgresPool.Configuration(connection: configuration), logger: testLogger)
      try await pool.withConnection { connection in
        try await connection.executeScript(
        """
        CREATE TABLE owners (id int PRIMARY KEY);
        CREATE TABLE items (
          id serial PRIMARY KEY, sku text NOT NULL CONSTRAINT items_sku_key UNIQUE,
          owner int REFERENCES owners (id), quantity numeric(38, 0) NOT NULL CHECK (quantity >= 0));
        INSERT INTO owners VALUES (1);
        """)
      }
      do {
        try await body(pool)
      } catch {
        await pool.close()
        throw error
      }
      await pool.close()
    }
  }

  func status(_ body: () async throws -> Void) async -> RPCError? {
    do {
      try await self.mapping.translatingErrors { try await body() }
      return nil
    } catch {
      return error
    }
  }

  @Test func constraintViolationsBecomeTheirStatusesWithoutServerText() async throws {
    try await withItems { pool in
      try await pool.query("INSERT INTO items (sku, owner, quantity) VALUES ('a', 1, 1)")
      let duplicate = await self.status { try await pool.query("INSERT INTO items (sku, quantity) VALUES ('a', 1)") }
      #expect(duplicate?.code == .alreadyExists)
      #expect(duplicate?.message == "An item with this SKU already exists.")
      let negative = await self.status { try await pool.query("INSERT INTO items (sku, quantity) VALUES ('b', -1)") }
      #expect(negative?.code == .failedPrecondition)
      #expect(negative?.message.contains("items_quantity_check") == true)
      let orphan = await self.status { try await pool.query("INSERT INTO items (sku, owner, quantity) VALUES ('c', 9, 1)") }
      #expect(orphan?.code == .failedPrecondition)
      let missing = await self.status {
        try await pool.query("INSERT INTO items (sku, quantity) VALUES (\(Optional<String>.none), 1)")
      }
      #expect(missing?.code == .invalidArgument)
      #expect(missing?.message.contains("sku") == true)
      let notANumber = await self.status {
        try await pool.query("INSERT INTO items (sku, quantity) VALUES ('d', \("12'; DROP TABLE items; --")::numeric)")
      }
      #expect(notANumber?.code == .invalidArgument)
      #expect(notANumber?.message.contains("DROP") == false)
      let tooBig = await self.status {
        try await pool.query("INSERT INTO items (sku, quantity) VALUES ('e', \(String(repeating: "9", count: 39))::numeric(38, 0))")
      }
      #expect(tooBig?.code == .invalidArgument)
      // Every refused write left the table as it was, and it still accepts 38-digit values.
      let maximum = String(repeating: "9", count: 38)
      try await pool.query("INSERT INTO items (sku, quantity) VALUES ('f', \(maximum)::numeric)")
      let rows = try await pool.query("SELECT sku, quantity::text FROM items ORDER BY sku")
      #expect(try rows.map { try $0.decode((String, String).self) }.map { "\($0.0)=\($0.1)" } == ["a=1", "f=\(maximum)"])
    }
  }

  @Test func serializationFailuresAreRetriedUntilTheyPass() async throws {
    try await withItems { pool in
      try await pool.query("INSERT INTO items (sku, quantity) VALUES ('counter', 0)")
      let attempts = Counter()
      // Eight concurrent read-modify-write transactions on one row at SERIALIZABLE: most
      // conflict; retried, every increment lands exactly once.
      let mapping = self.mapping
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<8 {
          group.addTask {
            try await mapping.transaction(
              on: pool, isolationLevel: .serializable, policy: TransactionRetryPolicy(maximumAttempts: 50)
            ) { connection in
              attempts.value.add(1, ordering: .relaxed)
              let current = try await connection.query("SELECT quantity::int8 FROM items WHERE sku = 'counter'")
                .first!.decode(Int64.self)
              try await connection.query("SELECT pg_sleep(0.01)")
              try await connection.query("UPDATE items SET quantity = \(current + 1) WHERE sku = 'counter'")
            }
          }
        }
        try await group.waitForAll()
      }
      let final = try await pool.query("SELECT quantity::int8 FROM items WHERE sku = 'counter'").first!.decode(Int64.self)
      #expect(final == 8)
      #expect(attempts.value.load(ordering: .relaxed) > 8)
    }
  }

  @Test func aConflictThatOutlastsTheRetriesIsAborted() async throws {
    try await withItems { pool in
      let attempts = Counter()
      let error = await self.status {
        try await self.mapping.transaction(on: pool, policy: TransactionRetryPolicy(maximumAttempts: 3)) { connection in
          attempts.value.add(1, ordering: .relaxed)
          // Raised by the server exactly as a real conflict is.
          try await connection.query(
            "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$" as PostgresQuery)
        }
      }
      #expect(error?.code == .aborted)
      #expect(attempts.value.load(ordering: .relaxed) == 3)
      // Other errors are not retried.
      attempts.value.store(0, ordering: .relaxed)
      let duplicate = await self.status {
        try await self.mapping.transaction(on: pool) { connection in
          attempts.value.add(1, ordering: .relaxed)
          try await connection.query("INSERT INTO items (sku, quantity) VALUES ('x', 1), ('x', 1)")
        }
      }
      #expect(duplicate?.code == .alreadyExists)
      #expect(attempts.value.load(ordering: .relaxed) == 1)
    }
  }

  @Test func cancelledAndTimedOutStatementsAreCancelledOrDeadlineExceeded() async throws {
    try await withItems { pool in
      let task = Task { await self.status { try await pool.query("SELECT pg_sleep(30)") } }
      try await Task.sleep(for: .milliseconds(100))
      task.cancel()
      #expect(await task.value?.code == .cancelled)
      let deadline = ContinuousClock.now + .milliseconds(150)
      let expired = await RPCDeadline.$current.withValue(deadline) {
        await self.status {
          try await pool.withConnection { connection in
            try await connection.query("SET statement_timeout = 200")
            try await connection.query("SELECT pg_sleep(30)")
          }
        }
      }
      #expect(expired?.code == .deadlineExceeded)
      // The pool still serves.
      #expect(try await pool.query("SELECT 1").first?.decode(Int32.self) == 1)
    }
  }

  @Test func aTerminatedSessionIsUnavailableAndThePoolRecovers() async throws {
    try await withItems { pool in
      let admin = try await TestCluster.shared.adminConfiguration()
      let killer = try await PostgresConnection.connect(configuration: admin, logger: testLogger)
      let victim = Task {
        await self.status {
          try await pool.withConnection { connection in
            let pid = connection.backendPID
            async let sleeping: Void = { _ = try await connection.query("SELECT pg_sleep(30)") }()
            try await Task.sleep(for: .milliseconds(100))
            try await killer.query("SELECT pg_terminate_backend(\(pid))")
            try await sleeping
          }
        }
      }
      #expect(await victim.value?.code == .unavailable)
      await killer.close()
      #expect(try await pool.query("SELECT 1").first?.decode(Int32.self) == 1)
    }
  }
}

@Suite("Database server restart", .enabled(if: TestCluster.shared.isPrivateCluster))
struct DatabaseRestartTests {
  @Test func callsDuringAnOutageAreUnavailableQuicklyAndThePoolRecoversAfterIt() async throws {
    let cluster = try ScratchCluster()
    defer { cluster.remove() }
    let admin = try cluster.start()
    var configuration = PostgresPool.Configuration(connection: admin)
    configuration.maximumConnections = 4
    configuration.acquireTimeout = .seconds(2)
    let pool = PostgresPool(configuration: configuration, logger: testLogger)
    let mapping = DatabaseErrorMapping()
    #expect(try await pool.query("SELECT 1").first?.decode(Int32.self) == 1)

    // The server goes away in the middle of a query.
    let inFlight = Task {
      try await mapping.translatingErrors { try await pool.query("SELECT pg_sleep(30)") }
    }
    try await Task.sleep(for: .milliseconds(200))
    try cluster.stop()
    let result = await inFlight.result
    #expect((result.failure as? RPCError)?.code == .unavailable)

    // While it is down, calls fail fast with UNAVAILABLE rather than hang.
    let start = ContinuousClock.now
    do {
      _ = try await mapping.translatingErrors { try await pool.query("SELECT 1") }
      Issue.record("a query succeeded while the server was down")
    } catch {
      #expect(error.code == .unavailable)
    }
    #expect(ContinuousClock.now - start < .seconds(8))

    // Back up: the pool reconnects by itself.
    try cluster.start()
    var recovered = false
    for _ in 0..<50 where !recovered {
      recovered = (try? await pool.query("SELECT 1").first?.decode(Int32.self)) == 1
      if !recovered { try await Task.sleep(for: .milliseconds(100)) }
    }
    #expect(recovered)
    await pool.close()
  }
}

extension Result {
  var failure: Failure? {
    if case .failure(let error) = self { return error }
    return nil
  }
}

final class Counter: Sendable {
  let value = Atomic<Int>(0)
}

import Postgres
import Testing

private struct Boom: Error {}

@Suite("Transactions")
struct TransactionTests {
  static func count(_ conn: PostgresConnection) async throws -> Int64 {
    try #require(try await conn.query("SELECT count(*) FROM ledger").first).decode(Int64.self)
  }

  @Test func commitsOnReturnAndRollsBackOnThrow() async throws {
    try await withTestConnection("tx") { conn in
      try await conn.query("CREATE TABLE ledger (id int8 PRIMARY KEY, amount numeric NOT NULL)")

      let value = try await conn.withTransaction { tx in
        try await tx.query("INSERT INTO ledger VALUES (1, \(PostgresDecimal(significand: 1050, scale: 2)))")
        return "done"
      }
      #expect(value == "done")
      #expect(try await Self.count(conn) == 1)

      await #expect(throws: Boom.self) {
        try await conn.withTransaction { tx in
          try await tx.query("INSERT INTO ledger VALUES (2, 1)")
          throw Boom()
        }
      }
      #expect(try await Self.count(conn) == 1)
      #expect(conn.isIdle)

      // A statement error inside rolls back everything before it.
      await #expect(throws: PostgresError.self) {
        try await conn.withTransaction(isolationLevel: .serializable) { tx in
          try await tx.query("INSERT INTO ledger VALUES (3, 1)")
          try await tx.query("INSERT INTO ledger VALUES (1, 1)")  // duplicate key
        }
      }
      #expect(try await Self.count(conn) == 1)
    }
  }

  @Test func swallowedErrorMakesCommitReportAbort() async throws {
    try await withTestConnection("tx_abort") { conn in
      try await conn.query("CREATE TABLE ledger (id int8 PRIMARY KEY)")
      let error = await #expect(throws: PostgresError.self) {
        try await conn.withTransaction { tx in
          try await tx.query("INSERT INTO ledger VALUES (1)")
          _ = try? await tx.query("INSERT INTO ledger VALUES (1)")
        }
      }
      #expect(error?.code == .transactionAborted)
      #expect(try await Self.count(conn) == 0)
      #expect(conn.isIdle)
    }
  }

  @Test func cancellationRollsBack() async throws {
    try await withTestConnection("tx_cancel") { conn in
      try await conn.query("CREATE TABLE ledger (id int8 PRIMARY KEY)")
      let start = ContinuousClock.now
      let task = Task {
        try await conn.withTransaction { tx in
          try await tx.query("INSERT INTO ledger VALUES (1)")
          try await tx.query("SELECT pg_sleep(10)")
        }
      }
      try await Task.sleep(for: .milliseconds(300))
      task.cancel()
      await #expect(throws: CancellationError.self) { try await task.value }
      #expect(ContinuousClock.now - start < .seconds(2))
      #expect(conn.isIdle)
      #expect(try await Self.count(conn) == 0)
    }
  }

  @Test func readOnlyTransactionsRejectWrites() async throws {
    try await withTestConnection("tx_ro") { conn in
      try await conn.query("CREATE TABLE ledger (id int8)")
      let error = await #expect(throws: PostgresError.self) {
        try await conn.withTransaction(readOnly: true) { tx in
          try await tx.query("INSERT INTO ledger VALUES (1)")
        }
      }
      #expect(error?.sqlState == "25006")
    }
  }
}

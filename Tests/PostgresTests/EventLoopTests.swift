import Postgres
import Testing

@Suite("Event loop round trips")
struct EventLoopTests {
  @Test func largeResultsArriveCompletelyOnAndOffTheLoop() async throws {
    try await withTestConnection("loop_large") { conn in
      // About 4 MB: many reads for one answer (edge-triggered notifications must not stall).
      let query: PostgresQuery = "SELECT g, repeat(md5(g::text), 4000) FROM generate_series(1, 32) g"
      let offLoop = try await conn.query(query).decode((Int32, String).self)
      let onLoop = try await withTaskExecutorPreference(conn.eventLoop) {
        try await conn.query(query).decode((Int32, String).self)
      }
      #expect(offLoop.count == 32 && onLoop.count == 32)
      #expect(offLoop.allSatisfy { $0.1.utf8.count == 128_000 })
      #expect(offLoop.map(\.0) == onLoop.map(\.0) && offLoop.map(\.1) == onLoop.map(\.1))
    }
  }

  @Test func tasksPreferringTheLoopResumeOnIt() async throws {
    try await withTestConnection("loop_resume") { conn in
      try await withTaskExecutorPreference(conn.eventLoop) {
        for n in Int64(1)...20 {
          let value = try #require(try await conn.query("SELECT \(n)::int8").first).decode(Int64.self)
          #expect(value == n)
          #expect(PostgresEventLoop.current === conn.eventLoop)
        }
      }
    }
  }

  @Test func concurrentCallersOnOneConnectionTakeTurns() async throws {
    try await withTestConnection("loop_turns") { conn in
      try await conn.query("CREATE TABLE seen (n int8)")
      try await withThrowingTaskGroup(of: Void.self) { group in
        for n in Int64(1)...16 {
          group.addTask { try await conn.query("INSERT INTO seen VALUES (\(n))") }
        }
        try await group.waitForAll()
      }
      let count = try #require(try await conn.query("SELECT count(DISTINCT n) FROM seen").first).decode(Int64.self)
      #expect(count == 16)
      #expect(conn.isIdle && !conn.isBroken)
    }
  }
}

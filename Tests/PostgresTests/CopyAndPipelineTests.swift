import Foundation
import Postgres
import Testing

@Suite("COPY and pipeline")
struct CopyAndPipelineTests {
  @Test func copiesTenThousandRows() async throws {
    try await withTestConnection("copy") { conn in
      try await conn.query(
        """
        CREATE TABLE items (
          id int8 PRIMARY KEY, name text, price numeric(12, 2), created timestamptz,
          tags text[], ref uuid, data jsonb, blob bytea, active bool, ratio float8
        )
        """)
      let created = Date(timeIntervalSince1970: 1_700_000_000.123456)
      let tricky = "tab\there\nnewline \\backslash\r \\N 'quote' \"dq\" ✓"
      let reference = UUID()
      let start = ContinuousClock.now
      let count = try await conn.copyFrom(
        table: "items",
        columns: ["id", "name", "price", "created", "tags", "ref", "data", "blob", "active", "ratio"]
      ) { writer in
        for id in Int64(1)...10_000 {
          let name: String? = id == 2 ? nil : (id == 1 ? tricky : "item \(id)")
          try await writer.writeRow(
            id, name, PostgresDecimal(significand: id * 101, scale: 2), created,
            id == 1 ? ["a b", "c,d", "e\"f", "g\\h", ""] : ["t\(id % 7)"],
            reference, PostgresJSON(#"{"id": \#(id)}"#), [UInt8(id % 256), 0, 255], id % 2 == 0,
            Double(id) / 3)
        }
      }
      #expect(count == 10_000)
      #expect(ContinuousClock.now - start < .seconds(10))

      let total = try #require(try await conn.query("SELECT count(*), sum(price) FROM items").first)
      let (rows, sum) = try total.decode((Int64, PostgresDecimal).self)
      #expect(rows == 10_000)
      #expect(sum.description == "50505050.00")  // 1.01 × (1 + ... + 10000)

      let first = try #require(
        try await conn.query("SELECT name, price, created, tags, ref, data, blob, active, ratio FROM items WHERE id = 1").first)
      let (name, price, date, tags, ref, data, blob, active, ratio) = try first.decode(
        (String?, PostgresDecimal, Date, [String], UUID, PostgresJSON, [UInt8], Bool, Double).self)
      #expect(name == tricky)
      #expect(price.description == "1.01")
      #expect(date == created)
      #expect(tags == ["a b", "c,d", "e\"f", "g\\h", ""])
      #expect(ref == reference)
      #expect(data.text == #"{"id": 1}"#)
      #expect(blob == [1, 0, 255])
      #expect(!active)
      #expect(ratio == 1.0 / 3)
      let nullName = try #require(try await conn.query("SELECT name FROM items WHERE id = 2").first)
      #expect(try nullName.decode(String?.self) == nil)
    }
  }

  @Test func abortedCopyStoresNothing() async throws {
    struct Stop: Error {}
    try await withTestConnection("copy_abort") { conn in
      try await conn.query("CREATE TABLE items (id int8)")
      await #expect(throws: Stop.self) {
        try await conn.copyFrom(table: "items", columns: ["id"]) { writer in
          for id in Int64(1)...100 { try await writer.writeRow(id) }
          throw Stop()
        }
      }
      // Wrong arity is refused before anything is sent.
      let arity = await #expect(throws: PostgresError.self) {
        try await conn.copyFrom(table: "items", columns: ["id"], rows: [[Int64(1), "extra"]])
      }
      #expect(arity?.code == .invalidArgument)
      // Bad data is reported by the server.
      let bad = await #expect(throws: PostgresError.self) {
        try await conn.copyFrom(table: "items", columns: ["id"], rows: [["not a number"]])
      }
      #expect(bad?.sqlState == "22P02")
      #expect(try #require(try await conn.query("SELECT count(*) FROM items").first).decode(Int64.self) == 0)
      #expect(conn.isIdle)
      let copied = try await conn.copyFrom(table: "items", columns: ["id"], rows: [[Int64(7)], [Int64?.none]])
      #expect(copied == 2)
    }
  }

  @Test func pipelineRunsABatch() async throws {
    try await withTestConnection("pipeline") { conn in
      try await conn.query("CREATE TABLE events (id int8 PRIMARY KEY, kind text)")
      let results = try await conn.pipeline([
        "INSERT INTO events VALUES (\(Int64(1)), \("created"))",
        "INSERT INTO events VALUES (\(Int64(2)), \("paid"))",
        "UPDATE events SET kind = \("shipped") WHERE id = \(Int64(2))",
        "SELECT id, kind FROM events ORDER BY id",
      ])
      #expect(results.count == 4)
      #expect(results[0].commandTag == "INSERT 0 1")
      #expect(results[2].affectedRows == 1)
      let rows = try results[3].decode((Int64, String).self)
      #expect(rows.map(\.0) == [1, 2])
      #expect(rows.map(\.1) == ["created", "shipped"])

      // One failing statement rolls back the whole batch.
      let error = await #expect(throws: PostgresError.self) {
        try await conn.pipeline([
          "INSERT INTO events VALUES (\(Int64(3)), 'x')",
          "INSERT INTO events VALUES (\(Int64(1)), 'duplicate')",
          "INSERT INTO events VALUES (\(Int64(4)), 'y')",
        ])
      }
      #expect(error?.isUniqueViolation == true)
      let count = try #require(try await conn.query("SELECT count(*) FROM events").first).decode(Int64.self)
      #expect(count == 2)
      #expect(conn.isIdle)

      // A large batch does not deadlock (results are read while sending).
      let many = (0..<2000).map { (i: Int) -> PostgresQuery in "SELECT \(Int64(i)), repeat('x', 500)" }
      let manyResults = try await conn.pipeline(many)
      #expect(manyResults.count == 2000)
      #expect(try manyResults[1999].first?.decode(column: 0, as: Int64.self) == 1999)
    }
  }
}

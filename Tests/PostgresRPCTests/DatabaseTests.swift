import EventOutbox
import Postgres
import PostgresRPC
import PostgresTestSupport
import RPCCore
import Testing

/// A row type as a store declares one.
private struct Item: RowDecodable, Equatable {
  static let columns = "id, sku, state"
  var id: Int32
  var sku: String
  var state: ItemState

  init(id: Int32, sku: String, state: ItemState) {
    (self.id, self.sku, self.state) = (id, sku, state)
  }

  init(row: PostgresRow) throws {
    (self.id, self.sku, self.state) = try row.decode((Int32, String, ItemState).self)
  }
}

private enum ItemState: String, PostgresTextEnum {
  case open, closed
}

@Suite("The database helper: read, write, advisory locks, typed rows")
struct DatabaseTests {
  func withDatabase(_ body: (Database) async throws -> Void) async throws {
    try await withTestSchema("rpcdb") { configuration in
      let pool = PostgresPool(configuration: PostgresPool.Configuration(connection: configuration), logger: testLogger)
      try await pool.withConnection { connection in
        try await connection.executeScript(
          """
          CREATE TABLE items (
            id int PRIMARY KEY, sku text NOT NULL CONSTRAINT items_sku_key UNIQUE,
            state text NOT NULL CHECK (state IN ('open', 'closed', 'lost')));
          """)
      }
      let database = Database(
        pool: pool, errors: DatabaseErrorMapping(constraintMessages: ["items_sku_key": "An item with this SKU exists."]))
      do {
        try await body(database)
      } catch {
        await pool.close()
        throw error
      }
      await pool.close()
    }
  }

  @Test func readAndWriteAnswerDatabaseFailuresWithTheirStatus() async throws {
    try await withDatabase { database in
      try await database.write { connection in
        try await connection.query("INSERT INTO items VALUES (1, 'a', \(ItemState.open))")
      }
      await #expect(throws: RPCError(code: .alreadyExists, message: "An item with this SKU exists.")) {
        try await database.read { connection in
          try await connection.query("INSERT INTO items VALUES (2, 'a', 'open')")
        }
      }
      await #expect(throws: RPCError(code: .alreadyExists, message: "An item with this SKU exists.")) {
        try await database.write { connection in
          try await connection.query("INSERT INTO items VALUES (3, 'b', 'open')")
          try await connection.query("INSERT INTO items VALUES (4, 'b', 'open')")
        }
      }
      // The failed write rolled back as a whole.
      let count = try await database.read { try await $0.query("SELECT count(*)::int8 FROM items").first!.decode(Int64.self) }
      #expect(count == 1)
    }
  }

  @Test func rowsDecodeAsTheirTypeAndAColumnCountMismatchFails() async throws {
    try await withDatabase { database in
      try await database.read { connection in
        try await connection.query("INSERT INTO items VALUES (1, 'a', 'open'), (2, 'b', 'closed')")
        let items = try await connection.query("SELECT \(columns: Item.self) FROM items ORDER BY id").decode(Item.self)
        #expect(items == [Item(id: 1, sku: "a", state: .open), Item(id: 2, sku: "b", state: .closed)])
        let closed = try await connection.query(
          "SELECT \(columns: Item.self) FROM items WHERE state = \(ItemState.closed)"
        ).first(Item.self)
        #expect(closed?.id == 2)
        let none = try await connection.query("SELECT \(columns: Item.self) FROM items WHERE id = 9").first(Item.self)
        #expect(none == nil)
        let short = try await connection.query("SELECT id, sku FROM items")
        #expect(throws: PostgresError.self) { try short.decode(Item.self) }
      }
    }
  }

  @Test func aStoredValueTheEnumDoesNotKnowFailsDecodingAsInternal() async throws {
    try await withDatabase { database in
      try await database.write { try await $0.query("INSERT INTO items VALUES (1, 'a', 'lost')") }
      let error = await #expect(throws: RPCError.self) {
        try await database.read { connection in
          try await connection.query("SELECT \(columns: Item.self) FROM items").decode(Item.self)
        }
      }
      #expect(error?.code == .internal)
    }
  }

  @Test func anAdvisoryLockIsTheHashOfNamespaceColonKeyHeldUntilTheTransactionEnds() async throws {
    try await withDatabase { database in
      let lock = AdvisoryLock("reservation", key: "T:order-1")
      #expect(lock.keyText == "reservation:T:order-1")
      try await database.write { connection in
        try await connection.lock(lock)
        // Another session cannot take the same key, but takes another namespace's.
        try await database.read { other in
          let same = try await other.query(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('reservation:T:order-1', 0))"
          ).first!.decode(Bool.self)
          #expect(!same)
          let otherNamespace = try await other.query(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(\(AdvisoryLock("outbox", key: "T:order-1").keyText), 0))"
          ).first!.decode(Bool.self)
          #expect(otherNamespace)
        }
      }
      // Released with the commit.
      let free = try await database.read { other in
        try await other.query("SELECT pg_try_advisory_lock(hashtextextended('reservation:T:order-1', 0))").first!.decode(Bool.self)
      }
      #expect(free)
    }
  }

  @Test func anOutboxCursorTheServiceDidNotIssueIsInvalidArgument() throws {
    let mapping = DatabaseErrorMapping()
    #expect(try Outbox.position(cursor: "") == 0)
    #expect(try Outbox.position(cursor: "42") == 42)
    for bad in ["-1", "x", "1.5"] {
      #expect(throws: Outbox.InvalidCursor(cursor: bad)) { try Outbox.position(cursor: bad) }
    }
    let status = mapping.rpcError(for: Outbox.InvalidCursor(cursor: "x"))
    #expect(status.code == RPCError.Code.invalidArgument)
    #expect(status.message == "after_cursor is not a cursor this service issued.")
  }
}

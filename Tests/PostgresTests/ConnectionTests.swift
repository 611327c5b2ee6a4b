import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Postgres
import Testing

/// A prepared statement used by the tests.
struct NoteByID: PostgresPreparedStatement {
  static let sql = "SELECT id, body FROM notes WHERE id = $1"
  typealias Row = (Int64, String)
  var id: Int64

  func makeBindings() -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(self.id)
    return bindings
  }

  func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

@Suite("PostgresConnection")
struct ConnectionTests {
  @Test func connectsAndReportsSession() async throws {
    try await withTestSchema("connect") { config in
      let conn = try await PostgresConnection.connect(configuration: config, logger: testLogger)
      #expect(conn.serverVersion >= 140000)
      let row = try #require(try await conn.query("SELECT pg_backend_pid(), current_schema(), current_setting('application_name')").first)
      let (pid, schema, appName) = try row.decode((Int32, String, String).self)
      #expect(pid == conn.backendPID)
      #expect(schema == config.searchPath?.first)
      #expect(appName == config.applicationName)
      await conn.close()
      #expect(conn.isClosed)
      await #expect(throws: PostgresError.self) { try await conn.query("SELECT 1") }
      await conn.close()  // idempotent
    }
  }

  @Test func connectionFailureIsReported() async throws {
    var config = try await TestCluster.shared.adminConfiguration()
    config.database = "no_such_database_\(UInt32.random(in: 0...UInt32.max))"
    do {
      _ = try await PostgresConnection.connect(configuration: config, logger: testLogger)
      Issue.record("expected a connection failure")
    } catch let error as PostgresError {
      #expect(error.code == .connectionFailed)
      #expect(error.isConnectionError)
    }
  }

  @Test(.enabled(if: TestCluster.shared.isPrivateCluster))
  func passwordLoginAndRedaction() async throws {
    let admin = try await TestCluster.shared.adminConfiguration()
    let role = "pw_user_\(UInt32.random(in: 0...UInt32.max))"
    let password = "S3cret-\(UInt32.random(in: 0...UInt32.max))"
    let adminConn = try await PostgresConnection.connect(configuration: admin, logger: testLogger)
    // Role DDL cannot take parameters; the values are generated above.
    try await adminConn.query("CREATE ROLE \(identifier: role) LOGIN PASSWORD '\(unescaped: password)'")
    var config = try PostgresConfiguration(
      parsing: "postgres://\(role):\(password)@\(admin.host ?? "127.0.0.1"):\(admin.port ?? 5432)/postgres")
    #expect(!config.description.contains(password))
    let conn = try await PostgresConnection.connect(configuration: config, logger: testLogger)
    let user = try #require(try await conn.query("SELECT current_user").first).decode(String.self)
    #expect(user == role)
    await conn.close()

    config.password = "wrong-\(password)"
    do {
      _ = try await PostgresConnection.connect(configuration: config, logger: testLogger)
      Issue.record("expected an authentication failure")
    } catch let error as PostgresError {
      #expect(error.code == .connectionFailed)
      #expect(!String(describing: error).contains(password))
      #expect(!String(reflecting: error).contains(password))
    }
    try await adminConn.query("DROP ROLE \(identifier: role)")
    await adminConn.close()
  }

  @Test func preparedStatementsArePreparedOncePerConnection() async throws {
    try await withTestConnection("prepared") { conn in
      try await conn.query("CREATE TABLE notes (id int8 PRIMARY KEY, body text NOT NULL)")
      try await conn.query("INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 5) g")
      for id in Int64(1)...5 {
        let rows = try await conn.execute(NoteByID(id: id))
        #expect(rows.count == 1)
        #expect(rows.first?.1 == "note \(id)")
      }
      #expect(try await conn.preparedStatementNames() == [NoteByID.name])
      let serverSide = try await conn.query(
        "SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql"
      ).decode((String, String).self)
      #expect(serverSide.count == 1)
      #expect(serverSide.first?.0 == NoteByID.name)
      #expect(serverSide.first?.1 == NoteByID.sql)
      #expect(NoteByID.name.utf8.count <= 63)

      // A statement the server lost (DISCARD ALL) is prepared again transparently.
      try await conn.query("DISCARD ALL")
      try await conn.query("SET search_path TO \(unescaped: conn.configuration.searchPath!.map { "\"\($0)\"" }.joined(separator: ","))")
      #expect(try await conn.execute(NoteByID(id: 2)).first?.1 == "note 2")
    }
  }

  /// A connection reuses the previous result's column descriptions while they match; results
  /// of another shape on the same session must still report their own names and types.
  @Test func consecutiveResultsKeepTheirOwnColumnsAndCounts() async throws {
    try await withTestConnection("columns") { conn in
      try await conn.executeScript("CREATE TABLE c (id int8 PRIMARY KEY, label text)")
      let insert: PostgresQuery = "INSERT INTO c SELECT g, 'row ' || g FROM generate_series(1, 12) g"
      let inserted = try await conn.query(insert)
      #expect(inserted.affectedRows == 12)
      #expect(inserted.commandTag == "INSERT 0 12")
      let first = try await conn.query("SELECT id AS a, label AS b FROM c WHERE id = \(Int64(3))")
      let same = try await conn.query("SELECT id AS a, label AS b FROM c WHERE id = \(Int64(4))")
      let renamed = try await conn.query("SELECT label AS a, id AS b FROM c WHERE id = \(Int64(5))")
      let retyped = try await conn.query("SELECT id::int4 AS a, label AS b FROM c WHERE id = \(Int64(6))")
      #expect(first.columns.map(\.name) == ["a", "b"])
      #expect(first.columns.map(\.dataType) == [.int8, .text])
      #expect(same.columns == first.columns)
      let sameRow = try #require(try same.decode((Int64, String).self).first)
      #expect(sameRow.0 == 4 && sameRow.1 == "row 4")
      #expect(renamed.columns.map(\.dataType) == [.text, .int8])
      let renamedRow = try #require(try renamed.decode((String, Int64).self).first)
      #expect(renamedRow.0 == "row 5" && renamedRow.1 == 5)
      #expect(retyped.columns.map(\.dataType) == [.int4, .text])
      #expect(try #require(retyped.first).decode(column: "a", as: Int32.self) == 6)
      let none = try await conn.query("SELECT id AS a FROM c WHERE id < \(Int64(0))")
      #expect(none.isEmpty && none.columns.map(\.name) == ["a"] && none.affectedRows == 0)
      let updated = try await conn.query("UPDATE c SET label = \("x") WHERE id > \(Int64(10))")
      #expect(updated.affectedRows == 2 && updated.columns.isEmpty)
    }
  }

  @Test func scriptsRunSeveralStatements() async throws {
    try await withTestConnection("script") { conn in
      try await conn.executeScript(
        """
        CREATE TABLE a (id int PRIMARY KEY);
        INSERT INTO a VALUES (1), (2);
        CREATE INDEX a_idx ON a (id);
        """)
      #expect(try #require(try await conn.query("SELECT count(*) FROM a").first).decode(Int64.self) == 2)
      await #expect(throws: PostgresError.self) { try await conn.executeScript("SELECT \(Int64(1))") }
    }
  }

  @Test func cancellationStopsTheQueryPromptly() async throws {
    try await withTestConnection("cancel") { conn in
      let start = ContinuousClock.now
      let task = Task { try await conn.query("SELECT pg_sleep(10)") }
      try await Task.sleep(for: .milliseconds(300))
      task.cancel()
      let result = await task.result
      let elapsed = ContinuousClock.now - start
      #expect(elapsed < .seconds(2))
      #expect(throws: CancellationError.self) { try result.get() }

      // The connection is still usable, and outside any transaction.
      #expect(conn.isIdle)
      #expect(!conn.isBroken)
      let one = try #require(try await conn.query("SELECT 1::int4").first).decode(Int32.self)
      #expect(one == 1)
    }
  }

  @Test func aCancelRequestTheBackendIgnoredIsSentAgain() async throws {
    try await withTestConnection("cancel_race") { conn in
      // The backend is stopped, so the statement waits unread in its socket when the cancel
      // request arrives; on SIGCONT it handles the request while still reading its next
      // command, which PostgreSQL ignores, and then starts the statement.
      let pid = conn.backendPID
      #expect(kill(pid, SIGSTOP) == 0)
      let start = ContinuousClock.now
      let task = Task { try await conn.query("SELECT pg_sleep(10)") }
      try await Task.sleep(for: .milliseconds(50))
      task.cancel()
      try await Task.sleep(for: .milliseconds(100))
      #expect(kill(pid, SIGCONT) == 0)
      let result = await task.result
      let elapsed = ContinuousClock.now - start
      #expect(elapsed < .seconds(3), "the statement ran \(elapsed) after its cancel request")
      #expect(throws: CancellationError.self) { try result.get() }
      #expect(try #require(try await conn.query("SELECT 1::int4").first).decode(Int32.self) == 1)
    }
  }

  @Test func cancellationBeforeStartDropsTheWork() async throws {
    try await withTestConnection("cancel_early") { conn in
      try await conn.query("CREATE TABLE marks (n int)")
      let task = Task {
        withUnsafeCurrentTask { $0?.cancel() }
        return try await conn.query("INSERT INTO marks VALUES (1)")
      }
      await #expect(throws: CancellationError.self) { try await task.value }
      let count = try #require(try await conn.query("SELECT count(*) FROM marks").first).decode(Int64.self)
      #expect(count == 0)
    }
  }

  @Test func uniqueViolationIsClassified() async throws {
    try await withTestConnection("unique") { conn in
      try await conn.query("CREATE TABLE users (id int8 PRIMARY KEY, email text CONSTRAINT users_email_key UNIQUE)")
      try await conn.query("INSERT INTO users VALUES (1, 'a@example.com')")
      do {
        try await conn.query("INSERT INTO users VALUES (\(Int64(2)), \("a@example.com"))")
        Issue.record("expected a unique violation")
      } catch let error as PostgresError {
        #expect(error.code == .server)
        #expect(error.isUniqueViolation)
        #expect(error.sqlState == "23505")
        #expect(error.constraintName == "users_email_key")
        #expect(!error.isForeignKeyViolation && !error.isConnectionError && !error.isSerializationFailure)
        #expect(error.detail?.contains("a@example.com") == true)
        // The generic description leaks neither values nor SQL.
        #expect(!error.description.contains("a@example.com"))
        #expect(!error.description.contains("INSERT"))
        #expect(String(reflecting: error).contains("INSERT INTO users"))
      }

      try await conn.query("CREATE TABLE orders (id int8, user_id int8 REFERENCES users(id), qty int CHECK (qty > 0) NOT NULL)")
      let fk = await #expect(throws: PostgresError.self) {
        try await conn.query("INSERT INTO orders VALUES (1, 99, 1)")
      }
      #expect(fk?.isForeignKeyViolation == true)
      let check = await #expect(throws: PostgresError.self) {
        try await conn.query("INSERT INTO orders VALUES (1, 1, 0)")
      }
      #expect(check?.isCheckViolation == true)
      let notNull = await #expect(throws: PostgresError.self) {
        try await conn.query("INSERT INTO orders VALUES (1, 1, NULL)")
      }
      #expect(notNull?.isNotNullViolation == true)
      let timeout = await #expect(throws: PostgresError.self) {
        try await conn.query("SET statement_timeout = '50ms'; SELECT pg_sleep(1)")
      }
      // Multiple statements are refused by the extended protocol; run them separately.
      #expect(timeout?.code == .server)
      try await conn.query("SET statement_timeout = '50ms'")
      let canceled = await #expect(throws: PostgresError.self) { try await conn.query("SELECT pg_sleep(1)") }
      #expect(canceled?.isQueryCanceled == true)
    }
  }
}

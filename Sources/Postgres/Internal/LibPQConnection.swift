internal import CLibPQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The libpq side of a ``PostgresConnection``: owns the `PGconn` and runs blocking libpq calls.
///
/// Ownership: model A. Swift owns the `PGconn`: ``connect(parameters:)`` creates it,
/// ``finish()`` (or `deinit`) calls `PQfinish`. libpq gets this object as the notice receiver's
/// user data *unretained*, which is safe because the `PGconn` never outlives its owner.
///
/// - Important: Not thread-safe and not `Sendable`. Only the holder of the owning connection's
///   exclusive access may call it (the task running an operation, the event loop while a round
///   trip is in flight, or the connection's ``WorkerThread`` for blocking calls). The `send*`,
///   ``advance(_:)`` and ``checkIdleHealth()`` methods never block; the others may.
final class LibPQConnection {
  private var conn: OpaquePointer?
  /// Names of the statements prepared on this session.
  private(set) var preparedStatements: Set<String> = []
  /// Set when the server sent a FATAL message outside a query (session terminated).
  private var receivedFatal = false
  /// The columns of the last result, reused while results keep the same shape (a service runs
  /// the same statements over and over): no column array or name strings per result.
  private var lastColumns: [PostgresColumn] = []
  let logger: Logger

  init(logger: Logger) {
    self.logger = logger
  }

  deinit {
    self.finish()
  }

  // MARK: Lifecycle

  /// Opens the session with `PQconnectdbParams` (blocking, bounded by `connect_timeout`).
  func connect(parameters: [(String, String)]) throws {
    precondition(self.conn == nil, "LibPQConnection.connect called twice")
    let connection = withCStringArray(parameters.map(\.0)) { keywords in
      withCStringArray(parameters.map(\.1)) { values in
        // expand_dbname = 0: a dbname value is a name, never a connection string.
        PQconnectdbParams(keywords, values, 0)
      }
    }
    // NULL only when libpq cannot allocate the PGconn.
    guard let connection else {
      throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
    }
    guard PQstatus(connection) == CONNECTION_OK else {
      let message = errorMessage(connection)
      PQfinish(connection)
      throw PostgresError(code: .connectionFailed, message: message)
    }
    self.conn = connection
    PQsetNoticeReceiver(connection, noticeReceiver, Unmanaged.passUnretained(self).toOpaque())
  }

  /// Calls `PQfinish` (idempotent). Prepared statements die with the session.
  func finish() {
    if let conn = self.conn {
      PQfinish(conn)
      self.conn = nil
    }
    self.preparedStatements.removeAll()
  }

  var isOpen: Bool { self.conn != nil }

  /// A new cancel handle (`PQgetCancel`); the caller owns it and frees it with `PQfreeCancel`.
  func makeCancelHandle() -> OpaquePointer? {
    self.conn.flatMap { PQgetCancel($0) }
  }

  var backendPID: Int32 { self.conn.map { PQbackendPID($0) } ?? 0 }
  var serverVersion: Int { self.conn.map { Int(PQserverVersion($0)) } ?? 0 }

  /// Whether the session is gone (closed, CONNECTION_BAD, or terminated by the server).
  var isBroken: Bool {
    guard let conn = self.conn else { return true }
    return PQstatus(conn) != CONNECTION_OK || self.receivedFatal
  }

  var transactionStatus: TransactionStatus {
    guard let conn = self.conn else { return .unknown }
    switch PQtransactionStatus(conn) {
    case PQTRANS_IDLE: return .idle
    case PQTRANS_ACTIVE: return .active
    case PQTRANS_INTRANS: return .inTransaction
    case PQTRANS_INERROR: return .failedTransaction
    default: return .unknown
    }
  }

  /// Cheap liveness check for an idle session, without a round trip: an idle session has no
  /// input pending, so readable input means the server sent something on its own — typically a
  /// FATAL "terminating connection" message followed by EOF. Consumes it and reports whether
  /// the session survived.
  func checkIdleHealth() -> Bool {
    guard let conn = self.conn, !self.isBroken, self.transactionStatus == .idle else { return false }
    let socket = PQsocket(conn)
    guard socket >= 0 else { return false }
    var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
    let ready = poll(&descriptor, 1, 0)
    if ready <= 0 {
      // 0: nothing pending. <0: EINTR or similar, nothing learned; the next call will tell.
      return true
    }
    // PQconsumeInput returns 0 on a read failure (including EOF), which also marks the
    // connection CONNECTION_BAD.
    if PQconsumeInput(conn) == 0 {
      return false
    }
    while let notify = PQnotifies(conn) { PQfreemem(notify) }
    return !self.isBroken
  }

  // MARK: Statements

  /// Runs one statement with `PQexecParams`, binary parameters and binary results.
  func execute(_ query: PostgresQuery) throws -> PostgresRows {
    let conn = try self.requireOpen(query: query.sql)
    let result = query.bindings.withLibPQParameters { count, types, values, lengths, formats in
      PQexecParams(conn, query.sql, count, types, values, lengths, formats, 1)
    }
    return try self.consume(result, sql: query.sql)
  }

  /// Runs a script of one or more statements without parameters (`PQexec`, text results).
  /// Returns the last statement's result.
  func executeScript(_ sql: String) throws -> PostgresRows {
    let conn = try self.requireOpen(query: sql)
    return try self.consume(PQexec(conn, sql), sql: sql)
  }

  /// Records that `name` is prepared on this session (after an asynchronous prepare).
  func rememberPrepared(_ name: String) { self.preparedStatements.insert(name) }

  /// Forgets `name` (the server lost it).
  func forgetPrepared(_ name: String) { self.preparedStatements.remove(name) }

  /// Gives the session up: it counts as broken from now on.
  func markBroken() { self.receivedFatal = true }

  /// Prepares `name` on this session unless it already is.
  func prepareIfNeeded(name: String, sql: String, types: [UInt32]) throws {
    if self.preparedStatements.contains(name) { return }
    let conn = try self.requireOpen(query: sql)
    let result = types.withUnsafeBufferPointer { types in
      PQprepare(conn, name, sql, Int32(types.count), types.baseAddress)
    }
    _ = try self.consume(result, sql: sql)
    self.preparedStatements.insert(name)
    self.logger.debug("prepared statement", metadata: [LogKey.statement: "\(name)"])
  }

  /// Executes the prepared statement `name`, preparing it first if needed. When the server has
  /// lost the statement (26000, for example after `DISCARD ALL`) outside a transaction, it is
  /// prepared again and the execution retried once.
  func executePrepared(name: String, sql: String, bindings: PostgresBindings) throws -> PostgresRows {
    try self.prepareIfNeeded(name: name, sql: sql, types: bindings.types)
    do {
      return try self.executePreparedOnce(name: name, sql: sql, bindings: bindings)
    } catch let error as PostgresError
      where error.state == .invalidSQLStatementName && self.transactionStatus == .idle
    {
      self.preparedStatements.remove(name)
      try self.prepareIfNeeded(name: name, sql: sql, types: bindings.types)
      return try self.executePreparedOnce(name: name, sql: sql, bindings: bindings)
    }
  }

  private func executePreparedOnce(name: String, sql: String, bindings: PostgresBindings) throws -> PostgresRows {
    let conn = try self.requireOpen(query: sql)
    let result = bindings.withLibPQParameters { count, _, values, lengths, formats in
      PQexecPrepared(conn, name, count, values, lengths, formats, 1)
    }
    return try self.consume(result, sql: sql)
  }

  // MARK: Asynchronous statements (sent by the caller, answered on an event loop)

  /// The session's socket, or -1 when there is none.
  var socket: Int32 { self.conn.map { PQsocket($0) } ?? -1 }

  /// Sends `PQsendPrepare` (flushed: the connection is in blocking mode, and a statement fits
  /// the socket buffer). Returns an error when it could not be sent.
  func sendPrepare(name: String, sql: String, types: [UInt32]) -> PostgresError? {
    guard let conn = self.conn else { return self.closedError(query: sql) }
    let sent = types.withUnsafeBufferPointer { types in
      PQsendPrepare(conn, name, sql, Int32(types.count), types.baseAddress)
    }
    return sent == 1 ? nil : self.sendFailure(query: sql)
  }

  /// Sends `PQsendQueryPrepared` with binary parameters and binary results.
  func sendQueryPrepared(name: String, sql: String, bindings: PostgresBindings) -> PostgresError? {
    guard let conn = self.conn else { return self.closedError(query: sql) }
    // withCString: an implicit String-to-pointer conversion would copy the name every call.
    let sent = name.withCString { name in
      bindings.withLibPQParameters { count, _, values, lengths, formats in
        PQsendQueryPrepared(conn, name, count, values, lengths, formats, 1)
      }
    }
    return sent == 1 ? nil : self.sendFailure(query: sql)
  }

  /// Sends `PQsendQueryParams` with binary parameters and binary results.
  func sendQuery(_ query: PostgresQuery) -> PostgresError? {
    guard let conn = self.conn else { return self.closedError(query: query.sql) }
    let sent = query.sql.withCString { sql in
      query.bindings.withLibPQParameters { count, types, values, lengths, formats in
        PQsendQueryParams(conn, sql, count, types, values, lengths, formats, 1)
      }
    }
    return sent == 1 ? nil : self.sendFailure(query: query.sql)
  }

  /// Sends a script (`PQsendQuery`, simple protocol, text results, several statements).
  func sendScript(_ sql: String) -> PostgresError? {
    guard let conn = self.conn else { return self.closedError(query: sql) }
    return PQsendQuery(conn, sql) == 1 ? nil : self.sendFailure(query: sql)
  }

  /// A send fails when the socket is gone (or a command is still active, which the
  /// connection's exclusive access rules out).
  private func sendFailure(query: String) -> PostgresError {
    self.connectionError(query: query)
  }

  private func closedError(query: String?) -> PostgresError {
    PostgresError(code: .connectionClosed, message: "connection is closed", query: query)
  }

  /// Where a sent command stands after ``advance(_:)``.
  enum Progress {
    /// More input is needed: wait until the socket is readable, then advance again.
    case waiting
    /// Every result has been read (the collector holds the outcome).
    case done
    /// A result started COPY (a plain query ran `COPY ... FROM/TO STDIN/STDOUT`): the caller
    /// must finish with ``finishAfterUnexpectedCopy(_:_:)`` on a thread that may block.
    case unexpectedCopy(OpaquePointer)
  }

  /// Reads what has arrived and collects every result that is complete. Never blocks: results
  /// are taken only while libpq has them buffered (`PQisBusy` is false) or the read failed (then
  /// `PQgetResult` reports the failure at once).
  func advance(_ collector: inout ResultCollector) -> Progress {
    guard let conn = self.conn else {
      collector.add(failure: self.closedError(query: collector.sql))
      return .done
    }
    var readFailed = false
    var mustRead = true
    while true {
      if mustRead {
        readFailed = PQconsumeInput(conn) == 0
        if readFailed && PQstatus(conn) == CONNECTION_OK {
          // A read error that left the session nominally open (should not happen):
          // PQgetResult might block, so give the session up instead.
          self.receivedFatal = true
          collector.add(failure: self.connectionError(query: collector.sql))
          return .done
        }
        mustRead = false
      }
      if !readFailed && PQisBusy(conn) != 0 {
        // Edge-triggered notifications: return only once the socket has nothing more to read
        // (one PQconsumeInput may leave data behind when the answer is large).
        guard socketIsReadable(PQsocket(conn)) else { return .waiting }
        mustRead = true
        continue
      }
      guard let result = PQgetResult(conn) else { return .done }
      switch PQresultStatus(result) {
      case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
        return .unexpectedCopy(result)
      default:
        do {
          collector.add(rows: try self.convert(result, sql: collector.sql))
        } catch let error as PostgresError {
          collector.add(failure: error)
        } catch {
          preconditionFailure("convert throws only PostgresError")
        }
      }
    }
  }

  /// Ends a COPY that a plain query started (blocking) and reads the remaining results.
  func finishAfterUnexpectedCopy(_ result: OpaquePointer, _ collector: inout ResultCollector) {
    self.drainAfterUnexpectedResult(result)
    collector.add(
      failure: PostgresError(
        code: .unexpectedResponse,
        message: "unexpected result status (COPY is only supported through copyFrom)", query: collector.sql))
  }

  // MARK: COPY FROM STDIN

  /// Sends `COPY ... FROM STDIN`; on success the session is in the COPY IN state.
  func startCopyIn(_ sql: String) throws {
    let conn = try self.requireOpen(query: sql)
    guard let result = PQexec(conn, sql) else {
      throw self.connectionError(query: sql)
    }
    defer { PQclear(result) }
    switch PQresultStatus(result) {
    case PGRES_COPY_IN:
      return
    case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
      throw self.resultError(result, sql: sql)
    default:
      self.drainAfterUnexpectedResult(result)
      throw PostgresError(
        code: .unexpectedResponse, message: "statement did not start COPY FROM STDIN", query: sql)
    }
  }

  /// Sends one chunk of COPY data (`PQputCopyData`; blocking mode, so 1 = queued, -1 = error).
  func putCopyData(_ bytes: [UInt8]) throws {
    let conn = try self.requireOpen(query: nil)
    let rc = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in
        PQputCopyData(conn, chars.baseAddress, Int32(chars.count))
      }
    }
    guard rc == 1 else { throw self.connectionError(query: nil) }
  }

  /// Ends COPY IN (`PQputCopyEnd`): with `errorMessage` the server aborts the COPY. Returns the
  /// COPY's final result (its command tag counts the rows).
  func endCopy(errorMessage: String?) throws -> PostgresRows {
    let conn = try self.requireOpen(query: nil)
    let rc: Int32
    if let errorMessage {
      rc = PQputCopyEnd(conn, errorMessage)
    } else {
      rc = PQputCopyEnd(conn, nil)
    }
    guard rc == 1 else { throw self.connectionError(query: nil) }
    // The COPY's result, then NULL.
    var rows: PostgresRows?
    var failure: PostgresError?
    while let result = PQgetResult(conn) {
      do {
        let consumed = try self.convert(result, sql: "COPY")
        if rows == nil { rows = consumed }
      } catch let error as PostgresError {
        if failure == nil { failure = error }
      } catch {
        preconditionFailure("convert throws only PostgresError")
      }
    }
    if let failure { throw failure }
    guard let rows else { throw self.connectionError(query: nil) }
    return rows
  }

  // MARK: Pipeline

  /// Sends every query in pipeline mode followed by one sync and reads all results: one round
  /// trip. The statements form one implicit transaction (unless they contain BEGIN/COMMIT):
  /// when one fails, the rest are skipped and the whole batch is rolled back; the first error is
  /// thrown.
  func executePipeline(_ queries: [PostgresQuery]) throws -> [PostgresRows] {
    let conn = try self.requireOpen(query: nil)
    guard PQenterPipelineMode(conn) == 1 else { throw self.connectionError(query: nil) }
    defer { _ = PQexitPipelineMode(conn) }

    // Send in non-blocking mode and keep reading while the socket is full, so a large batch
    // cannot deadlock with the server blocked on sending us results.
    guard PQsetnonblocking(conn, 1) == 0 else { throw self.connectionError(query: nil) }
    var sendError: PostgresError?
    for query in queries {
      let sent = query.bindings.withLibPQParameters { count, types, values, lengths, formats in
        PQsendQueryParams(conn, query.sql, count, types, values, lengths, formats, 1)
      }
      if sent != 1 {
        sendError = self.connectionError(query: query.sql)
        break
      }
      if let error = self.flushNonBlocking(conn) {
        sendError = error
        break
      }
    }
    if sendError == nil {
      if PQpipelineSync(conn) != 1 {
        sendError = self.connectionError(query: nil)
      } else {
        sendError = self.flushNonBlocking(conn)
      }
    }
    _ = PQsetnonblocking(conn, 0)
    if let sendError {
      // A send failure means the connection is broken; nothing more can be read reliably.
      throw sendError
    }

    var results: [PostgresRows] = []
    var firstError: PostgresError?
    for query in queries {
      // Each query yields one result, then NULL.
      guard let result = PQgetResult(conn) else { throw self.connectionError(query: query.sql) }
      if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
        PQclear(result)
        results.append(PostgresRows(storage: .empty, commandTag: "", affectedRows: nil))
      } else {
        do {
          results.append(try self.convert(result, sql: query.sql))
        } catch let error as PostgresError {
          if firstError == nil { firstError = error }
          results.append(PostgresRows(storage: .empty, commandTag: "", affectedRows: nil))
        } catch {
          preconditionFailure("convert throws only PostgresError")
        }
      }
      while let extra = PQgetResult(conn) { PQclear(extra) }
    }
    // Then the sync point.
    guard let sync = PQgetResult(conn) else { throw self.connectionError(query: nil) }
    let syncStatus = PQresultStatus(sync)
    PQclear(sync)
    guard syncStatus == PGRES_PIPELINE_SYNC else {
      throw PostgresError(code: .unexpectedResponse, message: "pipeline did not end with a sync result")
    }
    if let firstError { throw firstError }
    return results
  }

  /// Flushes libpq's output buffer in non-blocking mode, reading input whenever the server
  /// has something for us. Returns an error when the connection fails.
  private func flushNonBlocking(_ conn: OpaquePointer) -> PostgresError? {
    while true {
      // PQflush: 0 = everything sent, 1 = some data remains (would block), -1 = failure.
      let rc = PQflush(conn)
      if rc == 0 { return nil }
      if rc < 0 { return self.connectionError(query: nil) }
      var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN | POLLOUT), revents: 0)
      let ready = poll(&descriptor, 1, -1)
      if ready < 0 && errno != EINTR { return self.connectionError(query: nil) }
      if descriptor.revents & Int16(POLLIN) != 0 && PQconsumeInput(conn) == 0 {
        return self.connectionError(query: nil)
      }
    }
  }

  // MARK: Results

  private func requireOpen(query: String?) throws -> OpaquePointer {
    guard let conn = self.conn else {
      throw PostgresError(code: .connectionClosed, message: "connection is closed", query: query)
    }
    return conn
  }

  /// Converts a result from a synchronous exec call (which has already read every result).
  private func consume(_ result: OpaquePointer?, sql: String) throws -> PostgresRows {
    // NULL: out of memory, or the command could not be sent (broken connection).
    guard let result else { throw self.connectionError(query: sql) }
    return try self.convert(result, sql: sql)
  }

  /// Converts and clears one result. Leaves the session usable after unexpected COPY states.
  private func convert(_ result: OpaquePointer, sql: String) throws -> PostgresRows {
    switch PQresultStatus(result) {
    case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
      defer { PQclear(result) }
      return makeRows(result, reusing: &self.lastColumns)
    case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
      defer { PQclear(result) }
      throw self.resultError(result, sql: sql)
    default:
      // COPY IN/OUT/BOTH started by a plain query, or a pipeline result outside a pipeline.
      self.drainAfterUnexpectedResult(result)
      throw PostgresError(
        code: .unexpectedResponse,
        message: "unexpected result status (COPY is only supported through copyFrom)", query: sql)
    }
  }

  /// Ends an unexpected COPY and discards its results so the session can continue. Clears
  /// `result`.
  private func drainAfterUnexpectedResult(_ result: OpaquePointer) {
    let status = PQresultStatus(result)
    PQclear(result)
    guard let conn = self.conn else { return }
    if status == PGRES_COPY_IN || status == PGRES_COPY_BOTH {
      _ = PQputCopyEnd(conn, "COPY FROM STDIN is only supported through copyFrom")
    }
    if status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
      var buffer: UnsafeMutablePointer<CChar>?
      // PQgetCopyData (blocking): length > 0 = a row, -1 = done, -2 = error.
      while PQgetCopyData(conn, &buffer, 0) > 0 {
        PQfreemem(buffer)
        buffer = nil
      }
    }
    while let next = PQgetResult(conn) { PQclear(next) }
  }

  private func resultError(_ result: OpaquePointer, sql: String?) -> PostgresError {
    func field(_ code: UInt8) -> String? {
      PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
    }
    let sqlState = field(UInt8(ascii: "C"))
    guard sqlState != nil else {
      // Generated by libpq itself (lost connection, protocol trouble): no server fields.
      let message = PQresultErrorMessage(result).map { String(cString: $0).trimmingWhitespace }
      return PostgresError(
        code: self.isBroken ? .connectionClosed : .unexpectedResponse, message: message, query: sql)
    }
    let info = PostgresError.ServerInfo(
      sqlState: sqlState, severity: field(UInt8(ascii: "V")) ?? field(UInt8(ascii: "S")),
      message: field(UInt8(ascii: "M")), detail: field(UInt8(ascii: "D")),
      hint: field(UInt8(ascii: "H")), schemaName: field(UInt8(ascii: "s")),
      tableName: field(UInt8(ascii: "t")), columnName: field(UInt8(ascii: "c")),
      dataTypeName: field(UInt8(ascii: "d")), constraintName: field(UInt8(ascii: "n")))
    return PostgresError(code: .server, serverInfo: info, query: sql)
  }

  func connectionError(query: String?) -> PostgresError {
    let message = self.conn.map(errorMessage) ?? "connection is closed"
    return PostgresError(
      code: self.isBroken ? .connectionClosed : .unexpectedResponse, message: message, query: query)
  }

  fileprivate func handleNotice(_ result: OpaquePointer) {
    func field(_ code: UInt8) -> String? {
      PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
    }
    let severity = field(UInt8(ascii: "V")) ?? ""
    if severity == "FATAL" || severity == "PANIC" {
      self.receivedFatal = true
    }
    self.logger.debug(
      "server notice",
      metadata: [
        LogKey.severity: "\(severity)", LogKey.sqlState: "\(field(UInt8(ascii: "C")) ?? "")",
        LogKey.message: "\(field(UInt8(ascii: "M")) ?? "")",
      ])
  }
}

/// Gathers the results of one sent command: the first error wins (later results are still
/// read, as `PQexec` does), otherwise the last result is the outcome.
struct ResultCollector {
  let sql: String
  private(set) var rows: PostgresRows?
  private(set) var failure: PostgresError?

  init(sql: String) { self.sql = sql }

  mutating func add(rows: PostgresRows) { self.rows = rows }
  mutating func add(failure: PostgresError) {
    if self.failure == nil { self.failure = failure }
  }

  /// The outcome; a command that produced nothing at all means the connection failed.
  func outcome(connectionError: @autoclosure () -> PostgresError) -> Result<PostgresRows, PostgresError> {
    if let failure { return .failure(failure) }
    if let rows { return .success(rows) }
    return .failure(connectionError())
  }
}

/// Session transaction state, mirrored from `PQtransactionStatus` after every operation.
enum TransactionStatus: Sendable {
  case idle, active, inTransaction, failedTransaction, unknown
}

/// Logger metadata keys of this module.
enum LogKey {
  static let connectionID = "pg.connection.id"
  static let backendPID = "pg.backend.pid"
  static let statement = "pg.statement"
  static let severity = "pg.severity"
  static let sqlState = "pg.sqlstate"
  static let message = "pg.message"
  static let error = "pg.error"
}

/// libpq's notice receiver. Runs on the worker thread, inside a libpq call made by the owner.
private func noticeReceiver(_ context: UnsafeMutableRawPointer?, _ result: OpaquePointer?) {
  guard let context, let result else { return }
  let owner = Unmanaged<LibPQConnection>.fromOpaque(context).takeUnretainedValue()
  owner.handleNotice(result)
}

/// Whether `socket` has input (or EOF/error) pending, without waiting.
private func socketIsReadable(_ socket: Int32) -> Bool {
  guard socket >= 0 else { return true }  // gone: reading reports the failure
  var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
  return poll(&descriptor, 1, 0) != 0  // < 0 (EINTR...): read, and poll again
}

private func errorMessage(_ conn: OpaquePointer) -> String {
  PQerrorMessage(conn).map { String(cString: $0).trimmingWhitespace } ?? "unknown libpq error"
}

/// Copies a result into Swift storage (binary cells, column names and types). `columns`
/// holds the previous result's columns: reused when this result has the same ones, replaced
/// otherwise.
private func makeRows(_ result: OpaquePointer, reusing columns: inout [PostgresColumn]) -> PostgresRows {
  let rowCount = Int(PQntuples(result))
  let columnCount = Int(PQnfields(result))
  if !sameColumns(result, columnCount, columns) {
    var fresh: [PostgresColumn] = []
    fresh.reserveCapacity(columnCount)
    for column in 0..<columnCount {
      let name = PQfname(result, Int32(column)).map { String(cString: $0) } ?? ""
      fresh.append(PostgresColumn(name: name, dataType: PostgresDataType(PQftype(result, Int32(column)))))
    }
    columns = fresh
  }
  let storage: PostgresResultStorage
  if rowCount == 0 {
    storage = PostgresResultStorage(columns: columns, rowCount: 0, bytes: [], cells: [])
  } else {
    var totalLength = 0
    for row in 0..<rowCount {
      for column in 0..<columnCount {
        totalLength += Int(PQgetlength(result, Int32(row), Int32(column)))
      }
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(totalLength)
    var cells: [PostgresResultStorage.Cell] = []
    cells.reserveCapacity(rowCount * columnCount)
    for row in 0..<rowCount {
      for column in 0..<columnCount {
        if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
          cells.append(.init(offset: bytes.count, length: -1))
          continue
        }
        let length = PQgetlength(result, Int32(row), Int32(column))
        cells.append(.init(offset: bytes.count, length: length))
        if length > 0, let value = PQgetvalue(result, Int32(row), Int32(column)) {
          UnsafeRawPointer(value).withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
            bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(length)))
          }
        }
      }
    }
    storage = PostgresResultStorage(columns: columns, rowCount: rowCount, bytes: bytes, cells: cells)
  }
  let commandTag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
  return PostgresRows(storage: storage, commandTag: commandTag, affectedRows: parseCount(PQcmdTuples(result)))
}

/// Whether `result` has exactly `columns` (names and types).
private func sameColumns(_ result: OpaquePointer, _ count: Int, _ columns: [PostgresColumn]) -> Bool {
  guard columns.count == count else { return false }
  for (index, column) in columns.enumerated() {
    guard PQftype(result, Int32(index)) == column.dataType.rawValue,
      let name = PQfname(result, Int32(index)),
      column.name.withCString({ strcmp($0, name) == 0 })
    else { return false }
  }
  return true
}

/// The decimal count of a command tag (`PQcmdTuples`), read without making a String; nil when
/// empty (the command reports no count) or malformed.
private func parseCount(_ text: UnsafeMutablePointer<CChar>?) -> Int? {
  guard var pointer = text, pointer.pointee != 0 else { return nil }
  var value = 0
  while pointer.pointee != 0 {
    let digit = Int(pointer.pointee) - 48
    guard (0...9).contains(digit) else { return nil }
    let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
    let (sum, overflow2) = times10.addingReportingOverflow(digit)
    guard !overflow1, !overflow2 else { return nil }
    value = sum
    pointer += 1
  }
  return value
}

/// Calls `body` with a NULL-terminated array of C strings valid only inside `body`.
private func withCStringArray<R>(
  _ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R
) -> R {
  let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
  defer { for copy in copies { free(copy) } }
  let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
  return pointers.withUnsafeBufferPointer { buffer in
    guard let base = buffer.baseAddress else { preconditionFailure("empty C string array") }
    return body(base)
  }
}

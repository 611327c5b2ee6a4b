internal import CLibPQ
public import Logging
import Synchronization

/// One PostgreSQL session.
///
/// ```swift
/// let connection = try await PostgresConnection.connect(configuration: config, logger: logger)
/// let rows = try await connection.query("SELECT name FROM users WHERE id = \(id)")
/// await connection.close()
/// ```
///
/// **Threading.** libpq's calls block, so each connection owns a dedicated OS thread (not the
/// Swift cooperative pool) that runs its libpq calls one at a time, in the order they were
/// submitted; the async methods enqueue work there and suspend until it is done.
///
/// **Cancellation.** Cancelling the awaiting task sends a cancel request (`PQcancel`) for the
/// statement that is running, or drops the work if it has not started. The call then throws
/// `CancellationError` and the connection stays usable. (Inside a transaction the transaction
/// is left failed; ``withTransaction(isolationLevel:readOnly:isolation:_:)`` rolls it back.)
///
/// **Ownership.** Model A: this object owns the session. ``close()`` ends it; if the last
/// reference goes away first, `deinit` ends it. Use a connection from one task at a time (a
/// ``PostgresPool`` lease guarantees that): statements from concurrent tasks would interleave.
public final class PostgresConnection: @unchecked Sendable {
  // @unchecked Sendable: `libpq` (the PGconn and prepared-statement cache) is only touched by
  // jobs running on `worker`, a single serial thread; `state` and `cancelHandle` are Mutexes;
  // everything else is immutable.

  /// A process-unique number for logs.
  public let id: Int
  /// The configuration this connection was opened with.
  public let configuration: PostgresConfiguration
  let logger: Logger
  private let worker: WorkerThread
  private let libpq: LibPQConnection
  private let state: Mutex<SharedState>
  /// `PGcancel*` for this session; guarded so it is never freed while PQcancel uses it.
  private let cancelHandle: Mutex<CancelHandle>

  private struct SharedState {
    var isClosed = false
    var isBroken = false
    var transactionStatus: TransactionStatus = .idle
    var backendPID: Int32 = 0
    var serverVersion = 0
  }

  private struct CancelHandle: ~Copyable {
    var pointer: OpaquePointer?
  }

  private static let nextID = Atomic<Int>(1)

  private init(configuration: PostgresConfiguration, logger: Logger) {
    self.id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    self.configuration = configuration
    var logger = logger
    logger[metadataKey: LogKey.connectionID] = "\(self.id)"
    self.logger = logger
    self.worker = WorkerThread(name: "pg-conn-\(self.id)")
    self.libpq = LibPQConnection(logger: logger)
    self.state = Mutex(SharedState())
    self.cancelHandle = Mutex(CancelHandle(pointer: nil))
  }

  deinit {
    // No job can be pending: every job holds a strong reference to self. End the session on
    // the worker thread (PQfinish may block briefly), then let the thread exit.
    let libpq = self.libpq
    self.worker.submit { libpq.finish() }
    self.worker.shutdown()
    self.cancelHandle.withLock { handle in
      if let pointer = handle.pointer { PQfreeCancel(pointer) }
      handle.pointer = nil
    }
  }

  /// Opens a session.
  ///
  /// Connecting is not cancellable; it is bounded by ``PostgresConfiguration/connectTimeout``.
  ///
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code-swift.struct/connectionFailed``
  ///   (network, authentication, unknown database...).
  public static func connect(
    configuration: PostgresConfiguration, logger: Logger
  ) async throws -> PostgresConnection {
    let connection = PostgresConnection(configuration: configuration, logger: logger)
    let parameters = configuration.libpqParameters
    let (pid, version, cancel) = try await connection.run(cancellable: false) { libpq in
      try libpq.connect(parameters: parameters)
      return (libpq.backendPID, libpq.serverVersion, UncheckedBox(libpq.makeCancelHandle()))
    }
    connection.cancelHandle.withLock { $0.pointer = cancel.value }
    connection.state.withLock {
      $0.backendPID = pid
      $0.serverVersion = version
    }
    connection.logger.debug("connected", metadata: [LogKey.backendPID: "\(pid)"])
    return connection
  }

  /// Ends the session and stops the connection's thread. Idempotent. Waits for work already
  /// submitted to finish first.
  public func close() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let submitted = self.state.withLock { state -> Bool in
        if state.isClosed { return false }
        state.isClosed = true
        let libpq = self.libpq
        self.worker.submit {
          libpq.finish()
          continuation.resume()
        }
        return true
      }
      if !submitted { continuation.resume() }
    }
    self.worker.shutdown()
    self.freeCancelHandle()
    self.logger.debug("closed")
  }

  /// Like ``close()`` but does not wait: the session ends on the connection's thread.
  func closeInBackground() {
    let submitted = self.state.withLock { state -> Bool in
      if state.isClosed { return false }
      state.isClosed = true
      let libpq = self.libpq
      self.worker.submit { libpq.finish() }
      return true
    }
    if submitted {
      self.worker.shutdown()
      self.freeCancelHandle()
    }
  }

  private func freeCancelHandle() {
    self.cancelHandle.withLock { handle in
      if let pointer = handle.pointer { PQfreeCancel(pointer) }
      handle.pointer = nil
    }
  }

  /// Whether ``close()`` was called.
  public var isClosed: Bool { self.state.withLock { $0.isClosed } }

  /// Whether the session failed (the server closed it, or the network broke). A broken
  /// connection never recovers; open a new one.
  public var isBroken: Bool { self.state.withLock { $0.isBroken } }

  /// The server process serving this session (`pg_backend_pid()`).
  public var backendPID: Int32 { self.state.withLock { $0.backendPID } }

  /// The server version as an integer, for example `150008` for 15.8.
  public var serverVersion: Int { self.state.withLock { $0.serverVersion } }

  /// Whether the session is outside any transaction block, as of the last completed call.
  public var isIdle: Bool { self.state.withLock { $0.transactionStatus == .idle } }

  /// Whether a pool may hand this connection out again.
  var isReusable: Bool {
    self.state.withLock { !$0.isClosed && !$0.isBroken && $0.transactionStatus == .idle }
  }

  // MARK: Running libpq work

  /// Runs `body` on the connection's thread with the libpq session.
  ///
  /// When `cancellable` and the task is cancelled: work that has not started is dropped; work
  /// that is running gets a cancel request, and a resulting failure is reported as
  /// `CancellationError`.
  func run<T: Sendable>(
    cancellable: Bool = true, _ body: @escaping @Sendable (LibPQConnection) throws -> T
  ) async throws -> T {
    guard cancellable else {
      return try await self.submit(OperationState(), body)
    }
    let operation = OperationState()
    return try await withTaskCancellationHandler {
      try await self.submit(operation, body)
    } onCancel: {
      self.cancel(operation)
    }
  }

  private func submit<T: Sendable>(
    _ operation: OperationState, _ body: @escaping @Sendable (LibPQConnection) throws -> T
  ) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
      let accepted = self.state.withLock { state -> Bool in
        if state.isClosed { return false }
        // Submitting under the lock orders this job before close()'s PQfinish job.
        self.worker.submit {
          self.perform(operation, body, continuation)
        }
        return true
      }
      if !accepted {
        continuation.resume(throwing: PostgresError(code: .connectionClosed, message: "connection is closed"))
      }
    }
  }

  /// Runs on the worker thread.
  private func perform<T: Sendable>(
    _ operation: OperationState, _ body: (LibPQConnection) throws -> T,
    _ continuation: CheckedContinuation<T, any Error>
  ) {
    let start = operation.phase.withLock { phase -> Bool in
      if phase == .cancelled { return false }
      phase = .running
      return true
    }
    guard start else {
      continuation.resume(throwing: CancellationError())
      return
    }
    let result = Result { try body(self.libpq) }
    let cancelRequested = operation.phase.withLock { phase -> Bool in
      let requested = phase == .runningCancelRequested
      phase = .finished
      return requested
    }
    let broken = self.libpq.isOpen && self.libpq.isBroken
    let transactionStatus = self.libpq.transactionStatus
    self.state.withLock {
      $0.isBroken = $0.isBroken || broken
      $0.transactionStatus = transactionStatus
    }
    switch result {
    case .success(let value):
      continuation.resume(returning: value)
    case .failure(let error):
      if cancelRequested, (error as? PostgresError)?.isConnectionError != true {
        continuation.resume(throwing: CancellationError())
      } else {
        continuation.resume(throwing: error)
      }
    }
  }

  /// Task-cancellation handler: may run on any thread, concurrently with the worker.
  private func cancel(_ operation: OperationState) {
    operation.phase.withLock { phase in
      switch phase {
      case .pending:
        phase = .cancelled
      case .running:
        phase = .runningCancelRequested
        // Still holding the operation's lock: the worker cannot finish this operation and start
        // the next one until the cancel request has been delivered, so it cannot hit the next.
        self.sendCancelRequest()
      case .cancelled, .runningCancelRequested, .finished:
        break
      }
    }
  }

  private func sendCancelRequest() {
    self.cancelHandle.withLock { handle in
      guard let pointer = handle.pointer else { return }
      var buffer = [CChar](repeating: 0, count: 256)
      // PQcancel is thread-safe; it returns 1 when the request was sent, 0 with a message.
      let sent = PQcancel(pointer, &buffer, Int32(buffer.count))
      if sent == 0 {
        let message = String(
          decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.logger.debug("cancel request failed", metadata: [LogKey.error: "\(message)"])
      }
    }
  }

  // MARK: Queries

  /// Runs one statement with bound parameters and returns its rows.
  ///
  /// Parameters are sent in binary format with their types; results are requested in binary.
  ///
  /// - Throws: ``PostgresError`` (server errors carry SQLSTATE and fields), or
  ///   `CancellationError` when the task is cancelled.
  @discardableResult
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    try await self.run { libpq in try libpq.execute(query) }
  }

  /// Runs a prepared statement: prepared on this connection the first time (cached by
  /// ``PostgresPreparedStatement/name``), then executed with the statement's bindings.
  public func execute<Statement: PostgresPreparedStatement>(
    _ statement: Statement
  ) async throws -> [Statement.Row] {
    let bindings = statement.makeBindings()
    let name = Statement.name
    let sql = Statement.sql
    let rows = try await self.run { libpq in
      try libpq.executePrepared(name: name, sql: sql, bindings: bindings)
    }
    return try rows.map { try statement.decodeRow($0) }
  }

  /// Runs a script of one or more `;`-separated statements without parameters (for example a
  /// migration), in one round trip. Unless the script contains its own BEGIN/COMMIT, its
  /// statements run in one implicit transaction.
  ///
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code-swift.struct/invalidArgument`` if
  ///   `script` has interpolated values (scripts cannot take parameters).
  public func executeScript(_ script: PostgresQuery) async throws {
    guard script.bindings.count == 0 else {
      throw PostgresError(code: .invalidArgument, message: "a script cannot have bound parameters")
    }
    let sql = script.sql
    _ = try await self.run { libpq in try libpq.executeScript(sql) }
  }

  /// The names of the statements prepared on this session so far.
  public func preparedStatementNames() async throws -> Set<String> {
    try await self.run(cancellable: false) { libpq in libpq.preparedStatements }
  }

  /// Checks without a round trip that an idle session is still alive (see the pool's health
  /// check). Marks the connection broken when it is not.
  func checkIdleHealth() async -> Bool {
    let healthy = (try? await self.run(cancellable: false) { libpq in libpq.checkIdleHealth() }) ?? false
    if !healthy {
      self.state.withLock { $0.isBroken = true }
    }
    return healthy
  }
}

/// Progress of one submitted operation, shared by the worker and the cancellation handler.
final class OperationState: Sendable {
  enum Phase: Sendable {
    case pending, cancelled, running, runningCancelRequested, finished
  }

  let phase = Mutex<Phase>(.pending)
}

/// Moves a non-Sendable value out of a worker job.
///
/// @unchecked Sendable: used only for a `PGcancel*`, which is immutable once created and whose
/// use (PQcancel) is documented thread-safe; ownership moves to the connection's cancel Mutex.
struct UncheckedBox<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

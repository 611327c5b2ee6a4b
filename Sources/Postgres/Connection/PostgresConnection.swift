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
/// **Threading.** Statements are sent by the calling task itself (libpq's non-blocking
/// `PQsend*` API); the connection's ``eventLoop`` waits for the answer, reads it and resumes
/// the task, so nothing blocks the cooperative pool. A task that prefers the loop's executor
/// resumes without a thread hop. Rare blocking work (connecting, COPY, pipelines, closing)
/// runs on a helper thread of the connection. One operation runs at a time; further callers
/// wait their turn (FIFO).
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
  // the holder of the connection's exclusive access (`state.busy`, FIFO): the task running an
  // operation, then — while a round trip is in flight — the event loop, or the worker thread
  // for blocking jobs. Hand-overs go through Mutexes (`io`, `state`) or continuations, which
  // order the accesses. `watch` is written once, in `connect`, before the connection is shared.
  // `state`, `cancelHandle` and `io` are Mutexes; everything else is immutable.

  /// A process-unique number for logs.
  public let id: Int
  /// The configuration this connection was opened with.
  public let configuration: PostgresConfiguration
  /// The loop that waits for this connection's answers. Tasks that prefer it
  /// (`withTaskExecutorPreference(connection.eventLoop)`) resume on it without a thread hop.
  public let eventLoop: PostgresEventLoop
  let logger: Logger
  private let worker: WorkerThread
  private let libpq: LibPQConnection
  private let state: Mutex<SharedState>
  /// `PGcancel*` for this session; guarded so it is never freed while PQcancel uses it.
  private let cancelHandle: Mutex<CancelHandle>
  /// The round trip waiting for its answer and the socket's watch state, shared by the sender
  /// and the event loop.
  private let io = Mutex(IOState())
  /// The socket's registration with `eventLoop` (nil until connected).
  private var watch: SocketWatch?

  private struct IOState {
    /// Set by the sender once the command is sent, read by the loop when the socket is
    /// readable, cleared on completion.
    var trip: RoundTrip?
    /// Readiness notifications that found no round trip waiting. A sender compares it before
    /// and after sending: a change means the answer's notification came before `trip` was set
    /// (edge-triggered: it will not come again), so the sender reads it itself.
    var unclaimedNotifications: UInt64 = 0
    /// The socket became readable while no round trip was waiting (the server spoke on its
    /// own, e.g. FATAL before closing a terminated session): the next lease's health check
    /// looks at the session; otherwise it trusts it without a system call.
    var idleReadable = false
  }

  private struct SharedState {
    var isClosed = false
    var isBroken = false
    var transactionStatus: TransactionStatus = .idle
    var backendPID: Int32 = 0
    var serverVersion = 0
    /// Exclusive access: an operation is running; `accessWaiters` queue behind it.
    var busy = false
    var accessWaiters: [CheckedContinuation<Void, Never>] = []
  }

  private struct CancelHandle: ~Copyable {
    var pointer: OpaquePointer?
  }

  private static let nextID = Atomic<Int>(1)

  private init(configuration: PostgresConfiguration, logger: Logger, eventLoop: PostgresEventLoop) {
    self.id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    self.configuration = configuration
    var logger = logger
    logger[metadataKey: LogKey.connectionID] = "\(self.id)"
    self.logger = logger
    self.eventLoop = eventLoop
    self.worker = WorkerThread(name: "pg-conn-\(self.id)")
    self.libpq = LibPQConnection(logger: logger)
    self.state = Mutex(SharedState())
    self.cancelHandle = Mutex(CancelHandle(pointer: nil))
  }

  deinit {
    // Nothing is in flight: every operation holds a strong reference to self. Leave the epoll
    // set while the socket is still open, end the session on the worker thread (PQfinish may
    // block briefly), then let the thread exit.
    self.deregisterSocket()
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
  /// - Parameter eventLoop: the loop that will wait for the connection's answers; by default
  ///   the caller's loop when it runs on one of ``PostgresEventLoopGroup/shared``, else the
  ///   next loop of that group.
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code-swift.struct/connectionFailed``
  ///   (network, authentication, unknown database...).
  public static func connect(
    configuration: PostgresConfiguration, logger: Logger, eventLoop: PostgresEventLoop? = nil
  ) async throws -> PostgresConnection {
    let connection = PostgresConnection(
      configuration: configuration, logger: logger,
      eventLoop: eventLoop ?? PostgresEventLoopGroup.shared.next())
    let parameters = configuration.libpqParameters
    let (pid, version, cancel) = try await connection.run(cancellable: false) { libpq in
      try libpq.connect(parameters: parameters)
      return (libpq.backendPID, libpq.serverVersion, UncheckedBox(libpq.makeCancelHandle()))
    }
    connection.cancelHandle.withLock { $0.pointer = cancel.value }
    let watch = SocketWatch(connection)
    guard connection.eventLoop.register(socket: connection.libpq.socket, watch: watch) else {
      await connection.close()
      throw PostgresError(code: .connectionFailed, message: "cannot watch the connection's socket (epoll)")
    }
    connection.watch = watch
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
    _ = await self.acquireAccess()
    defer { self.releaseAccess() }
    let alreadyClosed = self.state.withLock { state -> Bool in
      defer { state.isClosed = true }
      return state.isClosed
    }
    if alreadyClosed { return }
    self.deregisterSocket()
    let libpq = self.libpq
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      self.worker.submit {
        libpq.finish()
        continuation.resume()
      }
    }
    self.worker.shutdown()
    self.freeCancelHandle()
    self.logger.debug("closed")
  }

  /// Like ``close()`` but does not wait.
  func closeInBackground() {
    Task { await self.close() }
  }

  private func deregisterSocket() {
    guard let watch = self.watch else { return }
    self.watch = nil
    // The socket only while libpq still owns it: a dropped socket left the epoll set by
    // itself, and its number may belong to another connection by now.
    self.eventLoop.deregister(socket: self.libpq.socket, watch: watch)
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

  // MARK: Exclusive access

  /// Takes exclusive access when nobody holds it. Returns nil when busy, else whether the
  /// connection is closed.
  private func tryAcquireAccess() -> Bool? {
    self.state.withLock { state -> Bool? in
      if state.busy { return nil }
      state.busy = true
      return state.isClosed
    }
  }

  /// Waits for exclusive access (FIFO). Returns whether the connection is closed.
  private func acquireAccess() async -> Bool {
    if let isClosed = self.tryAcquireAccess() { return isClosed }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let now = self.state.withLock { state -> Bool in
        if !state.busy {
          state.busy = true
          return true
        }
        state.accessWaiters.append(continuation)
        return false
      }
      if now { continuation.resume() }
    }
    return self.isClosed
  }

  /// Waits for exclusive access; throws `connectionClosed` (releasing access) when closed.
  private func acquireOpenAccess() async throws {
    if await self.acquireAccess() {
      self.releaseAccess()
      throw PostgresError(code: .connectionClosed, message: "connection is closed")
    }
  }

  /// Passes exclusive access to the next waiter, or frees it.
  private func releaseAccess() {
    let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
      if state.accessWaiters.isEmpty {
        state.busy = false
        return nil
      }
      return state.accessWaiters.removeFirst()  // stays busy: ownership moves to the waiter
    }
    next?.resume()
  }

  /// Runs `body` with exclusive access to the session; throws `connectionClosed` when closed.
  private func exclusively<T>(_ body: () async throws -> T) async throws -> T {
    try await self.acquireOpenAccess()
    defer { self.releaseAccess() }
    return try await body()
  }

  // MARK: Round trips on the event loop

  /// Sends a command from the calling thread (`send`), then lets the event loop collect its
  /// results. Requires exclusive access.
  ///
  /// When `cancellable` and the task is cancelled: a command not yet sent is dropped; a sent
  /// one gets a cancel request, and a resulting failure is reported as `CancellationError`.
  private func roundTrip(
    sql: String, cancellable: Bool, _ send: (LibPQConnection) -> PostgresError?
  ) async throws -> PostgresRows {
    let trip = RoundTrip(sql: sql)
    guard cancellable else {
      return try await self.startRoundTrip(trip, send)
    }
    return try await withTaskCancellationHandler {
      try await self.startRoundTrip(trip, send)
    } onCancel: {
      self.cancel(trip)
    }
  }

  private func startRoundTrip(
    _ trip: RoundTrip, _ send: (LibPQConnection) -> PostgresError?
  ) async throws -> PostgresRows {
    // Unsafe continuation: `complete` resumes it exactly once (the checked kind costs an
    // allocation and a check per statement).
    try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<PostgresRows, any Error>) in
      let start = trip.phase.withLock { phase -> Bool in
        if phase == .cancelled { return false }
        phase = .running
        return true
      }
      guard start else {
        continuation.resume(throwing: CancellationError())
        return
      }
      trip.continuation = continuation
      let notificationsBefore = self.io.withLock { $0.unclaimedNotifications }
      if let error = send(self.libpq) {
        trip.collector.add(failure: error)
        self.complete(trip)
        return
      }
      let missedNotification = self.io.withLock { io -> Bool in
        io.trip = trip
        return io.unclaimedNotifications != notificationsBefore
      }
      if missedNotification {
        // The answer (or a hang-up) may have been announced while sending, and no new edge
        // will come for it: let the loop look. (Only the loop thread advances round trips.)
        self.eventLoop.execute { self.socketReady() }
      }
    }
  }

  /// The socket is readable (or hung up), on the event loop's thread (only there, so round
  /// trips are advanced by one thread at a time). Collects what has arrived; completes the
  /// round trip when every result is in.
  func socketReady() {
    let trip = self.io.withLock { io -> RoundTrip? in
      if let trip = io.trip { return trip }
      // Readable while no round trip waits: the server spoke on its own (typically FATAL and
      // EOF when the session is terminated), a blocking job on the worker is reading, or a
      // sender has not published its round trip yet. Don't touch libpq (someone else owns it).
      io.unclaimedNotifications &+= 1
      io.idleReadable = true
      return nil
    }
    guard let trip else { return }
    switch self.libpq.advance(&trip.collector) {
    case .waiting:
      return  // level-triggered: notified again when more arrives
    case .done:
      break
    case .unexpectedCopy(let result):
      // Leaving a COPY state may block: finish on the connection's worker thread. The loop
      // no longer sees the round trip (its notifications count as unclaimed meanwhile).
      self.io.withLock { $0.trip = nil }
      let box = UncheckedBox(result)
      self.worker.submit {
        self.libpq.finishAfterUnexpectedCopy(box.value, &trip.collector)
        self.complete(trip)
      }
      return
    }
    self.complete(trip)
  }

  /// Records the session state and resumes the round trip's task.
  private func complete(_ trip: RoundTrip) {
    self.io.withLock { $0.trip = nil }
    let cancelRequested = trip.phase.withLock { phase -> Bool in
      let requested = phase == .runningCancelRequested
      phase = .finished
      return requested
    }
    self.recordSessionState()
    guard let continuation = trip.continuation else {
      preconditionFailure("round trip completed before it started")
    }
    switch trip.collector.outcome(connectionError: self.libpq.connectionError(query: trip.sql)) {
    case .success(let rows):
      continuation.resume(returning: rows)
    case .failure(let error):
      if cancelRequested, !error.isConnectionError {
        continuation.resume(throwing: CancellationError())
      } else {
        continuation.resume(throwing: error)
      }
    }
  }

  private func recordSessionState() {
    let broken = self.libpq.isOpen && self.libpq.isBroken
    let transactionStatus = self.libpq.transactionStatus
    self.state.withLock {
      $0.isBroken = $0.isBroken || broken
      $0.transactionStatus = transactionStatus
    }
  }

  /// Runs one statement without parameters (BEGIN, COMMIT, ROLLBACK...).
  func command(_ sql: String, cancellable: Bool) async throws -> PostgresRows {
    try await self.exclusively {
      try await self.roundTrip(sql: sql, cancellable: cancellable) { libpq in
        libpq.sendQuery(PostgresQuery(unsafeSQL: sql))
      }
    }
  }

  // MARK: Blocking work on the connection's thread

  /// Runs `body` on the connection's worker thread with the libpq session (connect, COPY,
  /// pipelines: calls that block), with exclusive access.
  ///
  /// When `cancellable` and the task is cancelled: work that has not started is dropped; work
  /// that is running gets a cancel request, and a resulting failure is reported as
  /// `CancellationError`.
  func run<T: Sendable>(
    cancellable: Bool = true, _ body: @escaping @Sendable (LibPQConnection) throws -> T
  ) async throws -> T {
    try await self.exclusively {
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
  }

  private func submit<T: Sendable>(
    _ operation: OperationState, _ body: @escaping @Sendable (LibPQConnection) throws -> T
  ) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
      self.worker.submit {
        self.perform(operation, body, continuation)
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
    self.recordSessionState()
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

  /// Task-cancellation handler: may run on any thread, concurrently with the worker or loop.
  private func cancel(_ operation: OperationState) {
    let requested = operation.phase.withLock { phase -> Bool in
      switch phase {
      case .pending:
        phase = .cancelled
        return false
      case .running:
        phase = .runningCancelRequested
        // Still holding the operation's lock: the operation cannot finish and the next one
        // start until the cancel request has been delivered, so it cannot hit the next.
        self.sendCancelRequest()
        return true
      case .cancelled, .runningCancelRequested, .finished:
        return false
      }
    }
    if requested { self.repeatCancelRequest(for: operation) }
  }

  /// How many times, 200 ms apart, a cancel request is sent again while its operation runs.
  static let cancelRequestRepeats = 5

  /// Sends the cancel request again while `operation` still runs. A request that reaches the
  /// server before the backend has read the statement finds it idle and is dropped, and the
  /// statement then runs to its end (a cancelled `pg_sleep(30)` ran its 30 s in a loaded test
  /// run). Each repeat holds the operation's lock, like the first, so none can hit a later one.
  private func repeatCancelRequest(for operation: OperationState) {
    Task.detached {
      for _ in 0..<Self.cancelRequestRepeats {
        try? await Task.sleep(for: .milliseconds(200))
        let stillRunning = operation.phase.withLock { phase -> Bool in
          guard phase == .runningCancelRequested else { return false }
          self.sendCancelRequest()
          return true
        }
        if !stillRunning { return }
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
    try await self.exclusively {
      try await self.roundTrip(sql: query.sql, cancellable: true) { libpq in libpq.sendQuery(query) }
    }
  }

  /// Runs a prepared statement: prepared on this connection the first time (cached by
  /// ``PostgresPreparedStatement/name``), then executed with the statement's bindings.
  @inlinable
  public func execute<Statement: PostgresPreparedStatement>(
    _ statement: Statement
  ) async throws -> [Statement.Row] {
    // Inlinable, with the work behind a non-generic entry point: the row decoding specializes
    // in the caller's module instead of going through generic metadata on every statement.
    let rows = try await self.executePrepared(
      name: Statement.name, sql: Statement.sql, bindings: statement.makeBindings())
    return try rows.decodeRows(with: statement)
  }

  /// Prepares (once per session) and executes `name`, with exclusive access.
  @usableFromInline
  func executePrepared(name: String, sql: String, bindings: PostgresBindings) async throws -> PostgresRows {
    // Neither suspends in the common case: access is free and the statement is prepared.
    try await self.acquireOpenAccess()
    defer { self.releaseAccess() }
    try await self.prepareIfNeeded(name: name, sql: sql, bindings: bindings)
    do {
      return try await self.roundTrip(sql: sql, cancellable: true) { libpq in
        libpq.sendQueryPrepared(name: name, sql: sql, bindings: bindings)
      }
    } catch let error as PostgresError
      where error.state == .invalidSQLStatementName && self.libpq.transactionStatus == .idle
    {
      // The server lost the statement (for example after DISCARD ALL): prepare, retry once.
      self.libpq.forgetPrepared(name)
      try await self.prepareIfNeeded(name: name, sql: sql, bindings: bindings)
      return try await self.roundTrip(sql: sql, cancellable: true) { libpq in
        libpq.sendQueryPrepared(name: name, sql: sql, bindings: bindings)
      }
    }
  }

  /// Prepares `name` on this session unless it already is. Requires exclusive access.
  private func prepareIfNeeded(name: String, sql: String, bindings: PostgresBindings) async throws {
    if self.libpq.preparedStatements.contains(name) { return }
    let types = bindings.types
    _ = try await self.roundTrip(sql: sql, cancellable: true) { libpq in
      libpq.sendPrepare(name: name, sql: sql, types: types)
    }
    self.libpq.rememberPrepared(name)
    self.logger.debug("prepared statement", metadata: [LogKey.statement: "\(name)"])
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
    _ = try await self.exclusively {
      try await self.roundTrip(sql: sql, cancellable: true) { libpq in libpq.sendScript(sql) }
    }
  }

  /// The names of the statements prepared on this session so far.
  public func preparedStatementNames() async throws -> Set<String> {
    try await self.exclusively { self.libpq.preparedStatements }
  }

  /// The fast path of ``checkIdleHealth()``: decides without waiting when nothing arrived
  /// since the connection went idle (it is then as its last operation left it, and the pool
  /// only keeps connections that were reusable then). Nil when the full check is needed.
  func checkIdleHealthWithoutWaiting() -> Bool? {
    guard let isClosed = self.tryAcquireAccess() else { return nil }
    if !isClosed && self.io.withLock({ $0.idleReadable }) {
      self.releaseAccess()
      return nil
    }
    let healthy = !isClosed && self.libpq.isOpen && !self.libpq.isBroken && self.libpq.transactionStatus == .idle
    self.releaseAccess()
    if !healthy { self.state.withLock { $0.isBroken = true } }
    return healthy
  }

  /// Checks without a round trip that an idle session is still alive (see the pool's health
  /// check). Marks the connection broken when it is not.
  ///
  /// The event loop watches idle sockets: only when one became readable while no round trip
  /// was waiting (the server sends FATAL and closes a terminated session) does the check look
  /// at the socket (one `poll` with no wait, consuming what arrived); otherwise it costs no
  /// system call.
  func checkIdleHealth() async -> Bool {
    if let healthy = self.checkIdleHealthWithoutWaiting() { return healthy }
    let healthy = (try? await self.exclusively { () -> Bool in
      guard self.io.withLock({ $0.idleReadable }) else {
        return self.libpq.isOpen && !self.libpq.isBroken && self.libpq.transactionStatus == .idle
      }
      // Clear first: a notification arriving during the check sets it again.
      self.io.withLock { $0.idleReadable = false }
      return self.libpq.checkIdleHealth()
    }) ?? false
    if !healthy {
      self.state.withLock { $0.isBroken = true }
    }
    return healthy
  }
}

/// One command sent and awaiting its results on the event loop (an operation whose progress
/// the cancellation handler follows).
///
/// @unchecked Sendable: `continuation` is set once by the sending task before the round trip
/// is published through the connection's `io` Mutex; `collector` is mutated only by whoever
/// advances the round trip (the event loop, or the worker for an unexpected COPY), one at a
/// time, handed over through that Mutex; `phase` is a Mutex.
final class RoundTrip: OperationState, @unchecked Sendable {
  let sql: String
  var continuation: UnsafeContinuation<PostgresRows, any Error>?
  var collector: ResultCollector

  init(sql: String) {
    self.sql = sql
    self.collector = ResultCollector(sql: sql)
  }
}

/// Progress of one submitted operation, shared by whoever runs it and the cancellation handler.
class OperationState: @unchecked Sendable {
  // @unchecked Sendable: `phase` is a Mutex; subclasses state their own reasons.
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

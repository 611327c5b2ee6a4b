internal import EventOutbox
public import Postgres
public import RPCCore

/// How database failures become gRPC statuses: the one place where SQLSTATEs meet status codes.
///
/// A service creates one mapping with friendly messages for its constraints and runs every
/// handler's database work through ``Database`` (or ``rpcError(for:)``). Messages that go
/// to clients never contain the server's message, SQL text or bound values; the full error is
/// kept as the `cause` for logs.
///
/// | failure | status |
/// | --- | --- |
/// | unique violation (23505) | `ALREADY_EXISTS` |
/// | check (23514), foreign key (23503), exclusion (23P01) violation | `FAILED_PRECONDITION` |
/// | not-null violation (23502), bad value text (22P02), out of range (22003), other class 22 | `INVALID_ARGUMENT` |
/// | serialization failure (40001), deadlock (40P01), lock not available (55P03), aborted commit | `ABORTED` |
/// | statement cancelled (57014), task cancelled | `DEADLINE_EXCEEDED` when the call's deadline passed, else `CANCELLED` |
/// | lost or refused connection, shutdown, too many connections, pool exhausted or closed | `UNAVAILABLE` |
/// | an outbox cursor the service did not issue (`Outbox.InvalidCursor`) | `INVALID_ARGUMENT` |
/// | anything else (decoding, undefined table, ...) | `INTERNAL` |
public struct DatabaseErrorMapping: Sendable {
  /// Client-facing messages by constraint name, such as
  /// `["users_tenant_email_key": "A user with this email already exists."]`.
  public var constraintMessages: [String: String]

  public init(constraintMessages: [String: String] = [:]) {
    self.constraintMessages = constraintMessages
  }

  /// The status `error` answers with; an `RPCError` passes through unchanged.
  public func rpcError(for error: any Error) -> RPCError {
    if let error = error as? RPCError { return error }
    if error is CancellationError { return self.cancelled(cause: error) }
    if error is Outbox.InvalidCursor {
      return RPCError(code: .invalidArgument, message: "after_cursor is not a cursor this service issued.", cause: error)
    }
    guard let error = error as? PostgresError else {
      return RPCError(code: .internal, message: "Internal error.", cause: error)
    }
    return self.rpcError(for: error)
  }

  /// The status of a database error.
  public func rpcError(for error: PostgresError) -> RPCError {
    if error.isConnectionError || error.isPoolUnavailable {
      return RPCError(code: .unavailable, message: "The database is unavailable; retry later.", cause: error)
    }
    if error.code == .transactionAborted {
      return RPCError(code: .aborted, message: "The transaction was aborted; retry it.", cause: error)
    }
    let constraintMessage = error.serverInfo?.constraintName.flatMap { self.constraintMessages[$0] }
    switch error.state {
    case .uniqueViolation?:
      return RPCError(code: .alreadyExists, message: constraintMessage ?? "It already exists.", cause: error)
    case .checkViolation?, .foreignKeyViolation?, .exclusionViolation?:
      return RPCError(
        code: .failedPrecondition,
        message: constraintMessage ?? "The change breaks a rule of the stored data\(Self.naming(error)).", cause: error)
    case .notNullViolation?:
      let column = error.serverInfo?.columnName.map { " (\($0))" } ?? ""
      return RPCError(code: .invalidArgument, message: constraintMessage ?? "A required value is missing\(column).", cause: error)
    case .serializationFailure?, .deadlockDetected?, .lockNotAvailable?:
      return RPCError(code: .aborted, message: "The change conflicted with a concurrent one; retry it.", cause: error)
    case .queryCanceled?:
      return self.cancelled(cause: error)
    case let state? where state.errorClass == "22":
      return RPCError(code: .invalidArgument, message: "A value is not valid for its field.", cause: error)
    default:
      return RPCError(code: .internal, message: "Internal error.", cause: error)
    }
  }

  private func cancelled(cause: any Error) -> RPCError {
    if let deadline = RPCDeadline.current, deadline <= ContinuousClock.now {
      return RPCError(code: .deadlineExceeded, message: "The deadline passed while the database was working.", cause: cause)
    }
    return RPCError(code: .cancelled, message: "The call was cancelled.", cause: cause)
  }

  private static func naming(_ error: PostgresError) -> String {
    error.serverInfo?.constraintName.map { " (\($0))" } ?? ""
  }
}

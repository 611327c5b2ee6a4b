/// SQLSTATE codes this layer classifies. See the PostgreSQL manual, appendix "PostgreSQL Error Codes".
public struct SQLState: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
  public var rawValue: String
  public init(rawValue: String) { self.rawValue = rawValue }
  public var description: String { self.rawValue }

  /// Two-character class, for example `08` for connection exceptions.
  public var errorClass: String { String(self.rawValue.prefix(2)) }

  public static let uniqueViolation = SQLState(rawValue: "23505")
  public static let foreignKeyViolation = SQLState(rawValue: "23503")
  public static let checkViolation = SQLState(rawValue: "23514")
  public static let notNullViolation = SQLState(rawValue: "23502")
  public static let exclusionViolation = SQLState(rawValue: "23P01")
  public static let serializationFailure = SQLState(rawValue: "40001")
  public static let deadlockDetected = SQLState(rawValue: "40P01")
  public static let queryCanceled = SQLState(rawValue: "57014")
  public static let adminShutdown = SQLState(rawValue: "57P01")
  public static let crashShutdown = SQLState(rawValue: "57P02")
  public static let cannotConnectNow = SQLState(rawValue: "57P03")
  public static let tooManyConnections = SQLState(rawValue: "53300")
  public static let lockNotAvailable = SQLState(rawValue: "55P03")
  public static let invalidTextRepresentation = SQLState(rawValue: "22P02")
  public static let numericValueOutOfRange = SQLState(rawValue: "22003")
  public static let undefinedTable = SQLState(rawValue: "42P01")
  public static let invalidSQLStatementName = SQLState(rawValue: "26000")
  /// Class 08: connection exceptions.
  public static let connectionExceptionClass = "08"
}

// The one place where SQLSTATEs are classified. The service layer maps these properties to its
// status codes (for example uniqueViolation → ALREADY_EXISTS, serialization failure → ABORTED,
// isConnectionError/isTimeout → UNAVAILABLE) without knowing SQLSTATE values.
extension PostgresError {
  /// The SQLSTATE as a typed value.
  public var state: SQLState? { self.sqlState.map(SQLState.init(rawValue:)) }

  /// 23505: a unique or primary-key constraint rejected the row.
  public var isUniqueViolation: Bool { self.state == .uniqueViolation }
  /// 23503: a foreign-key constraint rejected the row.
  public var isForeignKeyViolation: Bool { self.state == .foreignKeyViolation }
  /// 23514: a CHECK constraint rejected the row.
  public var isCheckViolation: Bool { self.state == .checkViolation }
  /// 23502: a NOT NULL column received NULL.
  public var isNotNullViolation: Bool { self.state == .notNullViolation }
  /// Any class-23 integrity constraint violation.
  public var isIntegrityConstraintViolation: Bool { self.state?.errorClass == "23" }
  /// 40001: a serializable/repeatable-read transaction must be retried.
  public var isSerializationFailure: Bool { self.state == .serializationFailure }
  /// 40P01: the transaction was chosen as a deadlock victim and must be retried.
  public var isDeadlockDetected: Bool { self.state == .deadlockDetected }
  /// Serialization failure or deadlock: running the whole transaction again may succeed.
  public var isRetryableTransactionFailure: Bool {
    self.isSerializationFailure || self.isDeadlockDetected
  }
  /// 57014: the statement was cancelled by statement_timeout or a cancel request. (Cancelling
  /// the awaiting Swift task throws `CancellationError` instead.)
  public var isQueryCanceled: Bool { self.state == .queryCanceled }
  /// 57P01: an administrator (or a server shutdown) terminated the session.
  public var isAdminShutdown: Bool { self.state == .adminShutdown }
  /// The connection is unusable or could not be made: connection failures, connections that
  /// broke, class-08 SQLSTATEs, administrator/crash shutdown, "cannot connect now" and "too many
  /// connections". Retrying on a new connection later may succeed.
  public var isConnectionError: Bool {
    if self.code == .connectionFailed || self.code == .connectionClosed { return true }
    guard let state = self.state else { return false }
    return state.errorClass == SQLState.connectionExceptionClass
      || state == .adminShutdown || state == .crashShutdown || state == .cannotConnectNow
      || state == .tooManyConnections
  }
  /// The pool had no connection available in time, or was closed.
  public var isPoolUnavailable: Bool { self.code == .timeout || self.code == .poolClosed }
}

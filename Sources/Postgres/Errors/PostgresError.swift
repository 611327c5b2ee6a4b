/// An error from the PostgreSQL access layer.
///
/// `code` says what kind of failure happened. Server errors carry the server's fields
/// (``sqlState``, ``serverMessage``, ``detail``, ``hint``, ``constraintName``, ...); decoding
/// errors carry the column (index and name), the Swift type and the PostgreSQL type.
///
/// `description` is deliberately generic: it names the code, the SQLSTATE and, for decoding
/// errors, the column and types — never SQL text, bind values or the server's message (which can
/// quote values). Use `String(reflecting: error)` for everything, including the server message
/// and the statement's SQL text (bind values are never kept).
///
/// Classification helpers (``isUniqueViolation``, ``isSerializationFailure``,
/// ``isConnectionError``, ...) let a service map failures to its own status codes in one place.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
  /// The kind of failure.
  public struct Code: Sendable, Hashable, CustomStringConvertible {
    private enum Value: String, Sendable {
      case connectionFailed, connectionClosed, server, decoding, invalidArgument, unexpectedResponse
      case timeout, poolClosed, invalidConfiguration, transactionAborted
    }

    private let value: Value

    /// A new connection could not be established (network, authentication, bad database...).
    public static let connectionFailed = Code(value: .connectionFailed)
    /// The connection was closed (by ``PostgresConnection/close()``) or broke during the call.
    public static let connectionClosed = Code(value: .connectionClosed)
    /// The server reported an error; see ``PostgresError/sqlState`` and the other server fields.
    public static let server = Code(value: .server)
    /// A value could not be decoded into the requested Swift type.
    public static let decoding = Code(value: .decoding)
    /// An argument is unusable (for example a COPY row with the wrong number of values, or a
    /// script given bind values). A programming error, not a server failure.
    public static let invalidArgument = Code(value: .invalidArgument)
    /// libpq reported a result this layer did not expect (for example a COPY TO STDOUT).
    public static let unexpectedResponse = Code(value: .unexpectedResponse)
    /// The pool is exhausted: no connection became available within the acquire timeout.
    public static let timeout = Code(value: .timeout)
    /// The pool was closed before or while waiting for a connection.
    public static let poolClosed = Code(value: .poolClosed)
    /// A configuration (URL, connection string) is malformed.
    public static let invalidConfiguration = Code(value: .invalidConfiguration)
    /// `COMMIT` found the transaction already failed, so the server rolled it back.
    public static let transactionAborted = Code(value: .transactionAborted)

    public var description: String { self.value.rawValue }
  }

  /// The fields of an error or notice reported by the server.
  public struct ServerInfo: Sendable, Hashable {
    /// The five-character SQLSTATE code, for example `23505`.
    public var sqlState: String?
    /// `ERROR`, `FATAL` or `PANIC` (never localized).
    public var severity: String?
    /// The primary, human-readable message. May quote values: do not return it to clients.
    public var message: String?
    public var detail: String?
    public var hint: String?
    public var schemaName: String?
    public var tableName: String?
    public var columnName: String?
    public var dataTypeName: String?
    public var constraintName: String?

    public init(
      sqlState: String? = nil, severity: String? = nil, message: String? = nil,
      detail: String? = nil, hint: String? = nil, schemaName: String? = nil,
      tableName: String? = nil, columnName: String? = nil, dataTypeName: String? = nil,
      constraintName: String? = nil
    ) {
      self.sqlState = sqlState
      self.severity = severity
      self.message = message
      self.detail = detail
      self.hint = hint
      self.schemaName = schemaName
      self.tableName = tableName
      self.columnName = columnName
      self.dataTypeName = dataTypeName
      self.constraintName = constraintName
    }
  }

  /// Where and why decoding a value failed.
  public struct DecodingContext: Sendable, Hashable {
    /// Zero-based column index.
    public var columnIndex: Int
    /// The column's name as reported by the server.
    public var columnName: String
    /// The Swift type that was requested, for example `Swift.Int32`.
    public var swiftType: String
    /// The column's PostgreSQL type.
    public var dataType: PostgresDataType
    /// Why the value could not be decoded (type mismatch, unexpected NULL, malformed data).
    public var reason: String
  }

  /// The kind of failure.
  public var code: Code
  /// The server's fields, for ``Code-swift.struct/server`` errors (and connection errors the server
  /// explained, such as an administrator shutdown).
  public var serverInfo: ServerInfo?
  /// The column and types involved, for ``Code-swift.struct/decoding`` errors.
  public var decodingContext: DecodingContext?
  /// A message from this layer or from libpq (never contains the password or bind values).
  public var message: String?
  /// The statement's SQL text (without bind values), shown only by `String(reflecting:)`.
  public var query: String?
  /// A lower-level error (for example the error that made a transaction roll back).
  public var underlying: (any Error)?
  public var file: String
  public var line: Int

  public init(
    code: Code, message: String? = nil, serverInfo: ServerInfo? = nil,
    decodingContext: DecodingContext? = nil, query: String? = nil, underlying: (any Error)? = nil,
    file: String = #fileID, line: Int = #line
  ) {
    self.code = code
    self.message = message
    self.serverInfo = serverInfo
    self.decodingContext = decodingContext
    self.query = query
    self.underlying = underlying
    self.file = file
    self.line = line
  }

  /// The SQLSTATE reported by the server, if any.
  public var sqlState: String? { self.serverInfo?.sqlState }
  /// The server's primary message. May quote values; log it at debug level only.
  public var serverMessage: String? { self.serverInfo?.message }
  public var detail: String? { self.serverInfo?.detail }
  public var hint: String? { self.serverInfo?.hint }
  public var constraintName: String? { self.serverInfo?.constraintName }

  public var description: String {
    var text = "PostgresError(code: \(self.code)"
    if let sqlState = self.sqlState {
      text += ", sqlState: \(sqlState)"
    }
    if let context = self.decodingContext {
      text += ", column: \(context.columnIndex) \"\(context.columnName)\""
      text += ", swiftType: \(context.swiftType), postgresType: \(context.dataType)"
      text += ", reason: \(context.reason)"
    }
    return text + ")"
  }

  public var debugDescription: String {
    var parts: [String] = ["code: \(self.code)"]
    if let info = self.serverInfo {
      if let v = info.severity { parts.append("severity: \(v)") }
      if let v = info.sqlState { parts.append("sqlState: \(v)") }
      if let v = info.message { parts.append("message: \(v)") }
      if let v = info.detail { parts.append("detail: \(v)") }
      if let v = info.hint { parts.append("hint: \(v)") }
      if let v = info.schemaName { parts.append("schema: \(v)") }
      if let v = info.tableName { parts.append("table: \(v)") }
      if let v = info.columnName { parts.append("column: \(v)") }
      if let v = info.dataTypeName { parts.append("dataType: \(v)") }
      if let v = info.constraintName { parts.append("constraint: \(v)") }
    }
    if let context = self.decodingContext {
      parts.append(
        "column: \(context.columnIndex) \"\(context.columnName)\", swiftType: \(context.swiftType), "
          + "postgresType: \(context.dataType), reason: \(context.reason)")
    }
    if let message = self.message { parts.append("message: \(message)") }
    if let query = self.query { parts.append("query: \(query)") }
    if let underlying = self.underlying { parts.append("underlying: \(String(reflecting: underlying))") }
    parts.append("at: \(self.file):\(self.line)")
    return "PostgresError(" + parts.joined(separator: ", ") + ")"
  }
}

extension PostgresError {
  static func decoding(_ reason: String, file: String = #fileID, line: Int = #line) -> PostgresError {
    PostgresError(code: .decoding, message: reason, file: file, line: line)
  }

  static func typeMismatch(
    _ type: PostgresDataType, expected: String, file: String = #fileID, line: Int = #line
  ) -> PostgresError {
    PostgresError(
      code: .decoding, message: "type mismatch: cannot decode \(type) (expected \(expected))",
      file: file, line: line)
  }
}

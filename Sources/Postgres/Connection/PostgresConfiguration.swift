/// How to reach and log in to a PostgreSQL server.
///
/// Build one field by field, or parse a URL or libpq key/value string with ``init(parsing:)``:
///
/// ```swift
/// var config = try PostgresConfiguration(parsing: "postgres://orders:secret@db:5432/suite?sslmode=disable")
/// config.applicationName = "orders"
/// config.searchPath = ["orders"]
/// ```
///
/// Fields left `nil` fall back to libpq's defaults (which include the `PG*` environment
/// variables). `description` and `debugDescription` never contain the password.
public struct PostgresConfiguration: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
  /// libpq's `sslmode`.
  public struct SSLMode: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { self.rawValue }

    public static let disable = SSLMode(rawValue: "disable")
    public static let allow = SSLMode(rawValue: "allow")
    public static let prefer = SSLMode(rawValue: "prefer")
    public static let require = SSLMode(rawValue: "require")
    public static let verifyCA = SSLMode(rawValue: "verify-ca")
    public static let verifyFull = SSLMode(rawValue: "verify-full")
  }

  /// Host name, IP address, or the absolute path of a directory holding the unix socket.
  public var host: String?
  /// TCP port (also names the unix socket file). libpq's default is 5432.
  public var port: Int?
  /// Role to log in as.
  public var user: String?
  /// Password; never printed by `description`.
  public var password: String?
  /// Database name (libpq defaults to the user name).
  public var database: String?
  /// Reported in `pg_stat_activity.application_name`.
  public var applicationName: String?
  /// Time allowed to establish a connection; rounded up to whole seconds, at least 2 s
  /// (libpq's granularity). Default: 10 seconds.
  public var connectTimeout: Duration?
  /// TLS policy; `nil` means libpq's default (`prefer`).
  public var sslMode: SSLMode?
  /// Schemas for `search_path`, first one first. Each name is quoted, so it is used verbatim.
  public var searchPath: [String]?
  /// Server settings applied at login (`-c name=value`), for example
  /// `["statement_timeout": "5s", "lock_timeout": "1s"]`.
  public var runtimeParameters: [String: String]
  /// Any other libpq connection keywords (for example `sslrootcert`, `target_session_attrs`).
  public var additionalParameters: [String: String]

  /// Creates a configuration; every field can be changed afterwards.
  public init(
    host: String? = nil, port: Int? = nil, user: String? = nil, password: String? = nil,
    database: String? = nil
  ) {
    self.host = host
    self.port = port
    self.user = user
    self.password = password
    self.database = database
    self.connectTimeout = .seconds(10)
    self.runtimeParameters = [:]
    self.additionalParameters = [:]
  }

  /// Parses either a URL (`postgres://` or `postgresql://`) or a libpq key/value string
  /// (`host=db port=5432 user=orders password='s e c r e t' dbname=suite`).
  ///
  /// URL form: `postgres://[user[:password]@][host][:port][/database][?key=value&...]` with
  /// percent-encoding; the host may be `[IPv6]` or a percent-encoded socket directory
  /// (`%2Fvar%2Frun%2Fpostgresql`). Recognised keys in both forms: `host`, `port`, `user`,
  /// `password`, `dbname`, `application_name`, `connect_timeout` (seconds), `sslmode`,
  /// `options` (`-c name=value ...`), and `search_path` (comma-separated schemas, our
  /// extension); any other key is passed to libpq unchanged. Multi-host lists are not supported.
  ///
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code-swift.struct/invalidConfiguration``;
  ///   its message never repeats the password.
  public init(parsing string: String) throws {
    let trimmed = string.trimmingWhitespace
    if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
      try self.init(url: trimmed)
    } else {
      try self.init(keyValueString: trimmed)
    }
  }

  /// The libpq keywords and values this configuration connects with (password included).
  var libpqParameters: [(String, String)] {
    var parameters: [(String, String)] = []
    func add(_ key: String, _ value: String?) {
      if let value { parameters.append((key, value)) }
    }
    add("host", self.host)
    add("port", self.port.map(String.init))
    add("user", self.user)
    add("password", self.password)
    add("dbname", self.database)
    add("application_name", self.applicationName)
    add("sslmode", self.sslMode?.rawValue)
    if let timeout = self.connectTimeout {
      let seconds = timeout.components.seconds + (timeout.components.attoseconds > 0 ? 1 : 0)
      add("connect_timeout", String(max(2, seconds)))
    }
    add("options", self.optionsString)
    // Results and text parameters are UTF-8 regardless of the server's or client's locale.
    add("client_encoding", "UTF8")
    for key in self.additionalParameters.keys.sorted() where !Self.managedKeys.contains(key) {
      add(key, self.additionalParameters[key])
    }
    return parameters
  }

  private static let managedKeys: Set<String> = [
    "host", "port", "user", "password", "dbname", "application_name", "sslmode",
    "connect_timeout", "options", "client_encoding",
  ]

  /// `options` as libpq expects it: `-c name=value` arguments, with spaces and backslashes in
  /// values escaped by a backslash.
  var optionsString: String? {
    var settings: [(String, String)] = []
    if let searchPath = self.searchPath, !searchPath.isEmpty {
      settings.append(("search_path", searchPath.map(quoteIdentifier).joined(separator: ",")))
    }
    for key in self.runtimeParameters.keys.sorted() where key != "search_path" || self.searchPath == nil {
      settings.append((key, self.runtimeParameters[key] ?? ""))
    }
    if settings.isEmpty { return nil }
    func escape(_ text: String) -> String {
      var escaped = ""
      for character in text {
        if character == " " || character == "\\" { escaped.append("\\") }
        escaped.append(character)
      }
      return escaped
    }
    return settings.map { "-c \(escape($0.0))=\(escape($0.1))" }.joined(separator: " ")
  }

  /// A URL with the password replaced by `********`.
  public var description: String {
    var text = "postgres://"
    if let user = self.user {
      text += percentEncode(user)
      if self.password != nil { text += ":********" }
      text += "@"
    }
    if let host = self.host {
      text += host.contains(":") ? "[\(host)]" : percentEncode(host)
    }
    if let port = self.port { text += ":\(port)" }
    if let database = self.database { text += "/" + percentEncode(database) }
    var query: [String] = []
    if let sslMode = self.sslMode { query.append("sslmode=\(sslMode.rawValue)") }
    if let name = self.applicationName { query.append("application_name=\(percentEncode(name))") }
    if let searchPath = self.searchPath {
      query.append("search_path=\(percentEncode(searchPath.joined(separator: ",")))")
    }
    if !self.runtimeParameters.isEmpty {
      let settings = self.runtimeParameters.keys.sorted().map { "-c \($0)=\(self.runtimeParameters[$0] ?? "")" }
      query.append("options=\(percentEncode(settings.joined(separator: " ")))")
    }
    for key in self.additionalParameters.keys.sorted() where !key.lowercased().contains("password") {
      query.append("\(percentEncode(key))=\(percentEncode(self.additionalParameters[key] ?? ""))")
    }
    if !query.isEmpty { text += "?" + query.joined(separator: "&") }
    return text
  }

  public var debugDescription: String { "PostgresConfiguration(\(self.description))" }
}

/// Quotes an SQL identifier: wraps it in double quotes and doubles embedded double quotes.
func quoteIdentifier(_ identifier: String) -> String {
  precondition(!identifier.utf8.contains(0), "SQL identifiers cannot contain NUL")
  return "\"" + identifier.replacingAll("\"", with: "\"\"") + "\""
}

extension String {
  var trimmingWhitespace: String {
    let scalars = self.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
      let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[first...last])
  }

  func replacingAll(_ target: Character, with replacement: String) -> String {
    var result = ""
    for character in self {
      if character == target { result += replacement } else { result.append(character) }
    }
    return result
  }
}

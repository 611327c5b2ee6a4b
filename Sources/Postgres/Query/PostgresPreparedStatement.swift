import Synchronization

/// A statement prepared once per connection and executed many times.
///
/// Conforming types describe the SQL (with `$n` placeholders), how to bind the instance's
/// values and how to decode a row. ``PostgresConnection/execute(_:)`` prepares the statement the
/// first time a connection sees it (named ``name``, cached per connection) and afterwards only
/// sends the bind values.
///
/// ```swift
/// struct UserByEmail: PostgresPreparedStatement {
///   static let sql = "SELECT id, name FROM users WHERE email = $1"
///   typealias Row = (Int64, String)
///   var email: String
///   func makeBindings() -> PostgresBindings {
///     var bindings = PostgresBindings()
///     bindings.append(self.email)
///     return bindings
///   }
///   func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
/// }
/// let users = try await connection.execute(UserByEmail(email: "a@example.com"))
/// ```
///
/// The parameter types are taken from the first execution's bindings; bind the same Swift
/// types every time.
public protocol PostgresPreparedStatement: Sendable {
  /// What one row decodes to.
  associatedtype Row

  /// The server-side statement name. The default derives a stable name (at most 63 bytes)
  /// from the type's name and a hash of ``sql``.
  static var name: String { get }

  /// The SQL text with `$1`, `$2`, ... placeholders.
  static var sql: String { get }

  /// The values for the placeholders, in order.
  func makeBindings() -> PostgresBindings

  /// Decodes one result row.
  func decodeRow(_ row: PostgresRow) throws -> Row
}

extension PostgresPreparedStatement {
  public static var name: String {
    // Computed once per type: the derivation (type name reflection, hashing) would otherwise
    // cost more than the rest of a primary-key lookup's client work.
    let key = ObjectIdentifier(Self.self)
    if let name = defaultNames.withLock({ $0[key] }) { return name }
    let name = defaultPreparedStatementName(typeName: String(reflecting: Self.self), sql: Self.sql)
    defaultNames.withLock { $0[key] = name }
    return name
  }
}

/// Default statement names by statement type.
private let defaultNames = Mutex<[ObjectIdentifier: String]>([:])

/// `ps_<short type name>_<16 hex digits of FNV-1a(type name, sql)>`, at most 63 bytes
/// (PostgreSQL truncates longer identifiers, which could make different statements collide).
func defaultPreparedStatementName(typeName: String, sql: String) -> String {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in typeName.utf8 + [0] + sql.utf8 {
    hash ^= UInt64(byte)
    hash = hash &* 0x0000_0100_0000_01b3
  }
  let shortName = typeName.split(separator: ".").last.map(String.init) ?? "statement"
  let sanitized = String(
    shortName.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
      .map(Character.init)
      .prefix(40))
  let hex = String(hash, radix: 16)
  return "ps_\(sanitized)_\(String(repeating: "0", count: 16 - hex.count))\(hex)"
}

extension PostgresRows {
  /// Every row decoded with `statement`'s ``PostgresPreparedStatement/decodeRow(_:)``.
  @inlinable
  func decodeRows<Statement: PostgresPreparedStatement>(with statement: Statement) throws -> [Statement.Row] {
    var decoded: [Statement.Row] = []
    decoded.reserveCapacity(self.count)
    for row in self { decoded.append(try statement.decodeRow(row)) }
    return decoded
  }
}

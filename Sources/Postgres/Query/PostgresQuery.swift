/// An SQL statement with its bound parameters.
///
/// Write queries as string literals; every interpolated value becomes a parameter (`$1`, `$2`,
/// ...) bound in binary with its type, so values can never change the SQL:
///
/// ```swift
/// let rows = try await connection.query("SELECT id, name FROM users WHERE email = \(email) AND age > \(minAge)")
/// ```
///
/// Raw SQL text can only be spliced in through loudly named escape hatches:
/// `\(unescaped: "ORDER BY name")` and ``init(unsafeSQL:bindings:)``. Identifiers can be quoted
/// safely with `\(identifier: tableName)`.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
  /// The SQL text, with `$n` placeholders.
  public var sql: String
  /// The values for the placeholders.
  public var bindings: PostgresBindings

  /// Creates a query from raw SQL text and bindings for its `$n` placeholders.
  ///
  /// > Warning: `unsafeSQL` is sent as is. Never build it from untrusted input; interpolate
  /// > values instead.
  public init(unsafeSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
    self.sql = sql
    self.bindings = bindings
  }

  /// A literal without interpolations is static SQL text.
  public init(stringLiteral value: String) {
    self.sql = value
    self.bindings = PostgresBindings()
  }

  public init(stringInterpolation: StringInterpolation) {
    self.sql = stringInterpolation.sql
    self.bindings = stringInterpolation.bindings
  }

  /// The SQL text only (bind values are never printed).
  public var description: String { self.sql }

  /// Builds a query: literal segments are SQL, interpolated values become parameters.
  public struct StringInterpolation: StringInterpolationProtocol {
    public typealias StringLiteralType = String

    var sql: String
    var bindings: PostgresBindings

    public init(literalCapacity: Int, interpolationCount: Int) {
      self.sql = ""
      self.sql.reserveCapacity(literalCapacity + interpolationCount * 3)
      self.bindings = PostgresBindings(capacity: interpolationCount)
    }

    public mutating func appendLiteral(_ literal: String) {
      self.sql += literal
    }

    /// Binds `value` as the next parameter and writes its placeholder (`$n`).
    public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
      self.bindings.append(value)
      self.sql += "$\(self.bindings.count)"
    }

    /// Binds an optional value (NULL when `nil`) as the next parameter. Spelled out so that an
    /// optional reads as intended rather than as a forgotten unwrap.
    public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
      self.bindings.append(value)
      self.sql += "$\(self.bindings.count)"
    }

    /// Writes `identifier` as a double-quoted SQL identifier (`"my ""table"""`).
    public mutating func appendInterpolation(identifier: String) {
      self.sql += quoteIdentifier(identifier)
    }

    /// Writes `sql` into the statement text verbatim.
    ///
    /// > Warning: Never pass untrusted input: this is how SQL injection happens.
    public mutating func appendInterpolation(unescaped sql: String) {
      self.sql += sql
    }
  }
}

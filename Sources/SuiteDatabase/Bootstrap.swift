import Foundation
public import Logging
import Migrations
public import Postgres

/// Creates the suite's database, one schema per service and one least-privilege login role per
/// schema. Idempotent: a second run changes nothing and reports no change.
///
/// For each schema `s` (role `s_svc`):
/// - the role is `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`, owns `s`
///   and nothing else, has `search_path = s`, and gets `CONNECT` on the database;
/// - `PUBLIC` loses every right on the database (`CONNECT`, `CREATE`, `TEMP`), `CREATE` on
///   schema `public` and every right on `s`.
/// So a role can neither read nor create in another service's schema, create schemas, nor
/// create in `public`.
///
/// Passwords: `<S>_DB_PASSWORD` from the environment, else the secrets file, else a new random
/// one (192 bits, hex); the secrets file then records every password and service URL. A role's
/// password is set as a SCRAM-SHA-256 verifier computed here (``SCRAMSHA256``), so the clear
/// password never reaches the server, and only when the role is new or cannot log in with it.
public struct DatabaseBootstrap: Sendable {
  /// The schemas of the suite's services (and so their roles `<schema>_svc`).
  public static let serviceSchemas = ["identity", "catalog", "orders", "pipelines", "monitoring"]

  public struct Options: Sendable {
    /// The suite's database.
    public var database = "suite"
    public var schemas = DatabaseBootstrap.serviceSchemas
    /// Where passwords and URLs are kept (`nil`: nowhere; passwords must then come from the
    /// environment or are generated and only returned).
    public var secretsFile: String? = "data/db-secrets.env"
    /// Looked up for `<SCHEMA>_DB_PASSWORD`.
    public var environment: [String: String] = ProcessInfo.processInfo.environment

    public init() {}
  }

  /// What a run did and what services need.
  public struct Report: Sendable {
    /// One line per change (empty when everything was already in place).
    public var changes: [String] = []
    /// `<schema>` → URL to log in as its role (with the password).
    public var serviceURLs: [String: String] = [:]
  }

  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  public let options: Options
  private let logger: Logger

  public init(options: Options = Options(), logger: Logger) throws {
    for name in [options.database] + options.schemas where !MigrationRunner.isPlainIdentifier(name) {
      throw Failure(description: "Invalid database or schema name '\(name)': use [a-z_][a-z0-9_]* (at most 59 bytes for schemas).")
    }
    for schema in options.schemas where schema.utf8.count > 59 {
      throw Failure(description: "Schema name '\(schema)' is too long for its role name '\(schema)_svc'.")
    }
    self.options = options
    self.logger = logger
  }

  public static func roleName(for schema: String) -> String { schema + "_svc" }
  public static func passwordKey(for schema: String) -> String { schema.uppercased() + "_DB_PASSWORD" }
  public static func urlKey(for schema: String) -> String { schema.uppercased() + "_DATABASE_URL" }

  /// Runs the bootstrap as `admin` (a superuser, or a role with CREATEDB and CREATEROLE).
  @discardableResult
  public func run(admin: PostgresConfiguration) async throws -> Report {
    var report = Report()
    var secrets = try self.options.secretsFile.map(SecretsFile.init(path:))
    var passwords: [String: String] = [:]
    for schema in self.options.schemas {
      let key = Self.passwordKey(for: schema)
      if let value = self.options.environment[key], !value.isEmpty {
        passwords[schema] = value
      } else if let value = secrets?[key], !value.isEmpty {
        passwords[schema] = value
      } else {
        passwords[schema] = Self.generatePassword()
      }
      // Fails early, before anything changes, for an unusable password.
      _ = try SCRAMSHA256.verifier(password: passwords[schema]!, iterations: 1)
    }

    try await self.createDatabase(admin: admin, report: &report)

    var suiteAdmin = admin
    suiteAdmin.database = self.options.database
    suiteAdmin.searchPath = nil
    let connection = try await PostgresConnection.connect(configuration: suiteAdmin, logger: self.logger)
    do {
      try await connection.withTransaction { connection in
        // Two bootstraps at once (two `make run`s) take turns instead of racing on CREATE ROLE.
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext('suite-db bootstrap'))")
        try await connection.query("REVOKE ALL ON DATABASE \(identifier: self.options.database) FROM PUBLIC")
        try await connection.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for schema in self.options.schemas {
          try await self.ensureRole(
            schema: schema, password: passwords[schema]!, suiteAdmin: suiteAdmin, on: connection, report: &report)
          try await self.ensureSchema(schema, on: connection, report: &report)
        }
      }
      await connection.close()
    } catch {
      await connection.close()
      throw error
    }

    for schema in self.options.schemas {
      var service = suiteAdmin
      service.user = Self.roleName(for: schema)
      service.password = passwords[schema]
      let url = Self.url(for: service)
      report.serviceURLs[schema] = url
      secrets?[Self.passwordKey(for: schema)] = passwords[schema]
      secrets?[Self.urlKey(for: schema)] = url
    }
    if let secrets, try secrets.save() {
      report.changes.append("wrote \(secrets.path)")
    }
    for change in report.changes {
      self.logger.info("Bootstrap: \(change)")
    }
    if report.changes.isEmpty {
      self.logger.info("Bootstrap: everything already in place", metadata: ["db.name": "\(self.options.database)"])
    }
    return report
  }

  private func createDatabase(admin: PostgresConfiguration, report: inout Report) async throws {
    let connection = try await PostgresConnection.connect(configuration: admin, logger: self.logger)
    do {
      let exists = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(self.options.database)")
      if exists.isEmpty {
        do {
          try await connection.query("CREATE DATABASE \(identifier: self.options.database)")
          report.changes.append("created database \(self.options.database)")
        } catch let error as PostgresError where error.serverInfo?.sqlState == "42P04" {
          // Created by a concurrent bootstrap in the meantime.
        }
      }
      await connection.close()
    } catch {
      await connection.close()
      throw error
    }
  }

  private func ensureRole(
    schema: String, password: String, suiteAdmin: PostgresConfiguration,
    on connection: PostgresConnection, report: inout Report
  ) async throws {
    let role = Self.roleName(for: schema)
    let attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    let existing = try await connection.query(
      """
      SELECT rolcanlogin AND NOT rolsuper AND NOT rolcreatedb AND NOT rolcreaterole
             AND NOT rolreplication AND NOT rolbypassrls
      FROM pg_roles WHERE rolname = \(role)
      """)
    if existing.isEmpty {
      // DDL takes no bind parameters: the server composes the statement with format(), which
      // quotes the name (%I) and the verifier (%L); the verifier only holds [A-Za-z0-9+/=$:].
      try await self.executeComposed(
        "CREATE ROLE %I \(attributes) PASSWORD %L", role,
        try SCRAMSHA256.verifier(password: password), on: connection)
      report.changes.append("created role \(role)")
    } else {
      if try existing[0].decode(Bool.self) == false {
        try await connection.query("ALTER ROLE \(identifier: role) \(unescaped: attributes)")
        report.changes.append("reset attributes of role \(role)")
      }
      if try await !Self.canLogIn(role: role, password: password, suiteAdmin: suiteAdmin, logger: self.logger) {
        try await self.executeComposed(
          "ALTER ROLE %I PASSWORD %L", role, try SCRAMSHA256.verifier(password: password), on: connection)
        report.changes.append("set the password of role \(role)")
      }
    }
    let settings = try await connection.query(
      """
      SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
      WHERE r.rolname = \(role) AND s.setdatabase = 0
      """)
    let wanted = "search_path=\(schema)"
    if try settings.first?.decode([String].self).contains(wanted) != true {
      try await connection.query("ALTER ROLE \(identifier: role) SET search_path TO \(identifier: schema)")
      report.changes.append("set search_path of role \(role) to \(schema)")
    }
    let canConnect = try await connection.query(
      "SELECT has_database_privilege(\(role), \(self.options.database), 'CONNECT')")
    if try canConnect[0].decode(Bool.self) == false {
      try await connection.query(
        "GRANT CONNECT ON DATABASE \(identifier: self.options.database) TO \(identifier: role)")
      report.changes.append("granted CONNECT on database \(self.options.database) to \(role)")
    }
  }

  private func ensureSchema(_ schema: String, on connection: PostgresConnection, report: inout Report) async throws {
    let role = Self.roleName(for: schema)
    let owner = try await connection.query(
      "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = \(schema)")
    if owner.isEmpty {
      try await connection.query("CREATE SCHEMA \(identifier: schema) AUTHORIZATION \(identifier: role)")
      report.changes.append("created schema \(schema) owned by \(role)")
    } else if try owner[0].decode(String.self) != role {
      try await connection.query("ALTER SCHEMA \(identifier: schema) OWNER TO \(identifier: role)")
      report.changes.append("made \(role) the owner of schema \(schema)")
    }
    // Revoking is a no-op when PUBLIC holds nothing (the default for new schemas).
    try await connection.query("REVOKE ALL ON SCHEMA \(identifier: schema) FROM PUBLIC")
  }

  /// Runs `format(template, name, literal)` on the server, then the statement it produced.
  private func executeComposed(
    _ template: String, _ name: String, _ literal: String, on connection: PostgresConnection
  ) async throws {
    let statement = try await connection.query("SELECT format(\(template), \(name)::text, \(literal)::text)")
    try await connection.executeScript(PostgresQuery(unsafeSQL: try statement[0].decode(String.self)))
  }

  /// Whether `role` can log in to the suite's database with `password` (the same server and
  /// connection settings as the administrator's).
  static func canLogIn(role: String, password: String, suiteAdmin: PostgresConfiguration, logger: Logger) async throws -> Bool {
    var configuration = suiteAdmin
    configuration.user = role
    configuration.password = password
    configuration.applicationName = "suite-db bootstrap check"
    do {
      let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
      await connection.close()
      return true
    } catch let error as PostgresError where error.code == .connectionFailed {
      return false
    }
  }

  /// 24 random bytes as 48 hex digits.
  static func generatePassword() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<24).map { _ in
      let byte = UInt8.random(in: .min ... .max, using: &generator)
      return String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
    }.joined()
  }

  /// `postgres://user:password@host:port/database[?sslmode=...]`, percent-encoded (a socket
  /// directory host becomes `%2F...`, an IPv6 address `[...]`).
  public static func url(for configuration: PostgresConfiguration) -> String {
    var url = "postgres://"
    if let user = configuration.user {
      url += percentEncode(user)
      if let password = configuration.password { url += ":" + percentEncode(password) }
      url += "@"
    }
    if let host = configuration.host {
      url += host.contains(":") && !host.hasPrefix("/") ? "[\(host)]" : percentEncode(host)
    }
    if let port = configuration.port { url += ":\(port)" }
    if let database = configuration.database { url += "/" + percentEncode(database) }
    if let sslMode = configuration.sslMode { url += "?sslmode=" + percentEncode(sslMode.rawValue) }
    return url
  }

  static func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
        out.unicodeScalars.append(Unicode.Scalar(byte))
      default:
        out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
      }
    }
    return out
  }
}

import Foundation
import Logging
public import Migrations
public import Postgres

/// The migration sets compiled into a tool, by service name (= schema name).
///
/// A service module exports its migrations as `[Migration]`; `suite-db` registers each
/// service's list here with one line.
public struct MigrationSets: Sendable {
  public let sets: [String: [Migration]]

  public init(_ sets: [String: [Migration]]) {
    self.sets = sets
  }

  public var services: [String] { self.sets.keys.sorted() }

  public func migrations(for service: String) -> [Migration]? { self.sets[service] }
}

extension MigrationFiles {
  /// The migrations in `directory` (see ``parse(_:source:)``).
  public static func load(directory: String) throws -> [Migration] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory)
    } catch {
      throw Failure(description: "Cannot read the migrations folder \(directory).")
    }
    var files: [(name: String, contents: [UInt8])] = []
    for name in names.sorted() where name.hasSuffix(".up.sql") || name.hasSuffix(".down.sql") {
      guard let data = FileManager.default.contents(atPath: directory + "/" + name) else {
        throw Failure(description: "Cannot read \(directory)/\(name).")
      }
      files.append((name, Array(data)))
    }
    return try Self.parse(files, source: directory)
  }
}

/// What `suite-db migrate` does, without the command-line parsing.
public enum MigrationCommand {
  public enum Action: String, CaseIterable, Sendable {
    /// History and current version.
    case status
    /// Apply pending migrations.
    case up
    /// Roll back the newest one.
    case down
  }

  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  /// The migrations of `service`: from `directory` when given, else the compiled-in set.
  public static func migrations(service: String, directory: String?, registry: MigrationSets) throws -> [Migration] {
    if let directory { return try MigrationFiles.load(directory: directory) }
    if let migrations = registry.migrations(for: service) { return migrations }
    let known = registry.services.isEmpty ? "none yet" : registry.services.joined(separator: ", ")
    throw Failure(
      description: "No migrations are compiled in for service '\(service)' (compiled in: \(known)). "
        + "Pass --dir with NNNN_name.up.sql / NNNN_name.down.sql files.")
  }

  /// The server to use for `service`: `explicit`, else `<SERVICE>_DATABASE_URL` from the
  /// environment, else from the secrets file, else `DATABASE_URL`.
  public static func databaseURL(
    service: String, explicit: String?, environment: [String: String], secretsFile: String?
  ) throws -> String {
    let key = DatabaseBootstrap.urlKey(for: service)
    if let explicit, !explicit.isEmpty { return explicit }
    if let value = environment[key], !value.isEmpty { return value }
    if let secretsFile, let value = try SecretsFile(path: secretsFile)[key], !value.isEmpty { return value }
    if let value = environment["DATABASE_URL"], !value.isEmpty { return value }
    throw Failure(
      description: "No database URL for service '\(service)': pass --database-url, or set \(key) or DATABASE_URL, "
        + "or run suite-db bootstrap to write \(secretsFile ?? "a secrets file").")
  }

  /// Runs `action` and returns what to print.
  public static func run(_ action: Action, runner: MigrationRunner, on connection: PostgresConnection) async throws -> String {
    switch action {
    case .status:
      return Self.format(status: try await runner.status(on: connection), schema: runner.schema)
    case .up:
      let applied = try await runner.migrate(on: connection)
      let current = try await runner.currentVersion(on: connection)
      return applied.isEmpty
        ? "Schema \(runner.schema) is up to date at version \(current).\n"
        : "Applied \(applied.map(String.init).joined(separator: ", ")) to schema \(runner.schema); current version \(current).\n"
    case .down:
      guard let undone = try await runner.rollBackOne(on: connection) else {
        return "Nothing to roll back in schema \(runner.schema).\n"
      }
      let current = try await runner.currentVersion(on: connection)
      return "Rolled back \(undone.version) (\(undone.name)) in schema \(runner.schema); current version \(current).\n"
    }
  }

  /// A table of every migration and the current version.
  public static func format(status: [MigrationStatus], schema: String) -> String {
    let current = status.filter { $0.state != .pending }.map(\.version).max() ?? 0
    var rows = [["VERSION", "STATE", "APPLIED AT", "NAME"]]
    for entry in status {
      rows.append([
        String(entry.version), entry.state.rawValue,
        entry.appliedAt.map { $0.formatted(.iso8601) } ?? "-", entry.name,
      ])
    }
    let widths = (0..<3).map { column in rows.map { $0[column].count }.max()! }
    var text = "Schema \(schema): current version \(current)\n"
    for row in rows {
      text += (0..<3).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
      text += "  " + row[3] + "\n"
    }
    if status.isEmpty { text += "(no migrations)\n" }
    return text
  }
}

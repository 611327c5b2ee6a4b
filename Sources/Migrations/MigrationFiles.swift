/// Migrations as plain SQL files: `NNNN_name.up.sql` applies version NNNN, `NNNN_name.down.sql`
/// undoes it. A service's files sit in its schema module's `migrations/` folder and are compiled
/// in (``compiledIn(_:_:)``); `suite-db migrate --dir` reads the same format from a folder.
public enum MigrationFiles {
  public struct Failure: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
      self.description = description
    }
  }

  /// The migrations in `files` (file name and contents), by version; `source` names where they
  /// come from in messages. Every `.up.sql` needs its `.down.sql` and the other way round;
  /// other files are ignored. The SQL is the files' bytes as they are: an applied migration's
  /// checksum is that of its `.up.sql` file.
  public static func parse(_ files: [(name: String, contents: [UInt8])], source: String) throws -> [Migration] {
    var ups: [String: [UInt8]] = [:]
    var downs: [String: [UInt8]] = [:]
    for file in files {
      if file.name.hasSuffix(".up.sql") { ups[String(file.name.dropLast(".up.sql".count))] = file.contents }
      if file.name.hasSuffix(".down.sql") { downs[String(file.name.dropLast(".down.sql".count))] = file.contents }
    }
    for stem in downs.keys.sorted() where ups[stem] == nil {
      throw Failure(description: "\(source)/\(stem).down.sql has no \(stem).up.sql.")
    }
    var byVersion: [Int64: String] = [:]
    var migrations: [Migration] = []
    for stem in ups.keys.sorted() {
      guard let underscore = stem.firstIndex(of: "_"), let version = Int64(stem[..<underscore]), version > 0,
        stem.index(after: underscore) < stem.endIndex
      else {
        throw Failure(description: "Migration file \(source)/\(stem).up.sql must be named NNNN_name.up.sql (NNNN ≥ 1).")
      }
      guard let down = downs[stem] else {
        throw Failure(description: "\(source)/\(stem).up.sql has no \(stem).down.sql.")
      }
      if let other = byVersion[version] {
        throw Failure(description: "\(source): \(other).up.sql and \(stem).up.sql share version \(version).")
      }
      byVersion[version] = stem
      migrations.append(
        Migration(
          version: version, name: String(stem[stem.index(after: underscore)...]),
          up: String(decoding: ups[stem]!, as: UTF8.self), down: String(decoding: down, as: UTF8.self)))
    }
    return migrations.sorted { $0.version < $1.version }
  }

  /// The migrations of `schema` from files embedded in the binary. A malformed set is a
  /// mistake in the build, caught by its tests: it stops the process.
  public static func compiledIn(_ schema: String, _ files: [(name: String, contents: [UInt8])]) -> [Migration] {
    do {
      return try Self.parse(files, source: schema + " migrations")
    } catch {
      preconditionFailure("\(error)")
    }
  }
}

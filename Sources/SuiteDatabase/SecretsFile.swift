import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `KEY='value'` file readable by its owner only (mode 0600), e.g. `data/db-secrets.env`:
/// the service roles' passwords (`IDENTITY_DB_PASSWORD`) and URLs (`IDENTITY_DATABASE_URL`).
///
/// Values are single-quoted so that `set -a; . data/db-secrets.env` works in a shell; unquoted
/// values are read too. Saving writes a new file with mode 0600 from the start (never a moment
/// with wider permissions), then renames it over the old one; it writes nothing when the content
/// is unchanged, but still narrows the mode of an existing file that is too open.
public struct SecretsFile: Sendable {
  public let path: String
  public private(set) var values: [String: String]

  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  /// Reads `path`; a missing file is empty.
  public init(path: String) throws {
    self.path = path
    self.values = [:]
    guard FileManager.default.fileExists(atPath: path) else { return }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw Failure(description: "Cannot read the secrets file \(path).")
    }
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
      let text = line.trimmingCharacters(in: .whitespaces)
      guard !text.isEmpty, !text.hasPrefix("#"), let equals = text.firstIndex(of: "=") else { continue }
      self.values[String(text[..<equals])] = Self.unquote(String(text[text.index(after: equals)...]))
    }
  }

  public subscript(key: String) -> String? {
    get { self.values[key] }
    set { self.values[key] = newValue }
  }

  /// The file's text as `save()` writes it.
  public var text: String {
    "# Written by suite-db bootstrap. Secret: keep mode 0600, never commit.\n"
      + self.values.keys.sorted().map { "\($0)=\(Self.quote(self.values[$0]!))\n" }.joined()
  }

  /// Writes the file when its content changed. Returns whether it wrote.
  @discardableResult
  public func save() throws -> Bool {
    let current = FileManager.default.contents(atPath: self.path).map { String(decoding: $0, as: UTF8.self) }
    if current == self.text {
      if chmod(self.path, 0o600) != 0 {
        throw Failure(description: "Cannot set mode 0600 on \(self.path): \(String(cString: strerror(errno))).")
      }
      return false
    }
    let directory = (self.path as NSString).deletingLastPathComponent
    if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    let temporary = "\(self.path).\(getpid()).tmp"
    unlink(temporary)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw Failure(description: "Cannot create \(temporary): \(String(cString: strerror(errno))).")
    }
    let bytes = Array(self.text.utf8)
    var written = 0
    while written < bytes.count {
      let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        unlink(temporary)
        throw Failure(description: "Cannot write \(temporary): \(reason).")
      }
      written += count
    }
    fsync(fd)
    close(fd)
    guard rename(temporary, self.path) == 0 else {
      let reason = String(cString: strerror(errno))
      unlink(temporary)
      throw Failure(description: "Cannot replace \(self.path): \(reason).")
    }
    return true
  }

  static func quote(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  static func unquote(_ value: String) -> String {
    guard value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") else { return value }
    return String(value.dropFirst().dropLast()).replacingOccurrences(of: "'\\''", with: "'")
  }
}

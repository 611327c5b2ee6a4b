#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The process environment, read one way everywhere: an empty variable counts as unset.
public enum Environment {
  /// The value of `name`, or `nil` when it is unset or empty.
  public static func value(_ name: String) -> String? {
    guard let raw = getenv(name) else { return nil }
    let value = String(cString: raw)
    return value.isEmpty ? nil : value
  }

  /// Every variable, by name (empty ones included, as the process has them).
  public static func all() -> [String: String] {
    var variables: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
      let text = String(cString: pointer)
      if let equals = text.firstIndex(of: "=") {
        variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
      }
      entry += 1
    }
    return variables
  }
}

/// Reads configuration files without Foundation.
public enum ConfigurationFile {
  /// The file's contents as UTF-8 text, or `nil` when it cannot be read.
  public static func read(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
      bytes.append(contentsOf: chunk[0..<count])
      if count < chunk.count { break }
    }
    guard ferror(file) == 0 else { return nil }
    return String(validating: bytes, as: UTF8.self)
  }
}

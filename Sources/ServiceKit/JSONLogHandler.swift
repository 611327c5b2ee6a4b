public import Logging
#if canImport(Glibc)
internal import Glibc
#endif

/// Writes one JSON object per log line to standard error.
///
/// Keys: `ts` (ISO 8601, UTC), `level`, `logger`, `msg`, then the metadata. Only executables
/// install it, with `LoggingSystem.bootstrap(JSONLogHandler.init)`.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level
  private let label: String

  public init(label: String) {
    self.label = label
    self.logLevel = Self.levelFromEnvironment()
  }

  /// The level named by `LOG_LEVEL` (trace, debug, info, notice, warning, error, critical);
  /// `info` when unset or unknown.
  public static func levelFromEnvironment() -> Logger.Level {
    guard let raw = getenv("LOG_LEVEL") else { return .info }
    let value = String(cString: raw).lowercased()
    return Logger.Level(rawValue: value) ?? .info
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { self.metadata[key] }
    set { self.metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var fields: [(String, String)] = [
      ("ts", Self.timestamp()),
      ("level", event.level.rawValue),
      ("logger", self.label),
      ("msg", event.message.description),
    ]
    var merged = self.metadata
    if let extra = event.metadata { merged.merge(extra) { $1 } }
    for key in merged.keys.sorted() {
      fields.append((key, merged[key]!.description))
    }
    var line = "{"
    for (index, (key, value)) in fields.enumerated() {
      if index > 0 { line += "," }
      line += Self.quote(key) + ":" + Self.quote(value)
    }
    line += "}\n"
    var bytes = Array(line.utf8)
    bytes.withUnsafeMutableBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
        if written <= 0 { break }
        offset += written
      }
    }
  }

  private static func timestamp() -> String {
    // UTC, millisecond precision: 2026-11-22T12:00:00.123Z
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
      + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
      + "\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
  }

  static func quote(_ text: String) -> String { JSONText.quote(text) }
}

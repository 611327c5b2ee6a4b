public import Logging
internal import Foundation

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
    guard let value = ProcessInfo.processInfo.environment["LOG_LEVEL"]?.lowercased() else { return .info }
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
    FileHandle.standardError.write(Data(line.utf8))
  }

  private static func timestamp() -> String {
    Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
  }

  static func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          out += String(format: "\\u%04x", scalar.value)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }
}

public import Logging
import ServiceKit
#if canImport(Glibc)
internal import Glibc
#endif

/// Writes one JSON object per log line to standard error.
///
/// Keys: `ts` (ISO 8601, UTC), `level`, `logger`, `msg`, then the metadata in key order. Only
/// executables install it, with `LoggingSystem.bootstrap(JSONLogHandler.init)`.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level
  private let label: String
  private let output: @Sendable (UnsafeRawBufferPointer) -> Void

  /// A handler at the level `LOG_LEVEL` names, writing to standard error.
  public init(label: String) {
    self.init(label: label, level: Self.levelFromEnvironment(), output: Self.writeToStandardError)
  }

  /// A handler at `level` that hands each finished line (newline included) to `output`.
  public init(label: String, level: Logger.Level, output: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
    self.label = label
    self.logLevel = level
    self.output = output
  }

  private static let writeToStandardError: @Sendable (UnsafeRawBufferPointer) -> Void = { buffer in
    var offset = 0
    while offset < buffer.count {
      let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
      if written <= 0 { break }
      offset += written
    }
  }

  /// The level named by `LOG_LEVEL` (trace, debug, info, notice, warning, error, critical);
  /// `info` when unset or unknown.
  public static func levelFromEnvironment() -> Logger.Level {
    guard let value = Environment.value("LOG_LEVEL") else { return .info }
    return Logger.Level(rawValue: value.lowercased()) ?? .info
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { self.metadata[key] }
    set { self.metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    // The line is built as bytes (one buffer, strings escaped in runs) and written with one
    // write(2): an access line per call must stay cheap next to the call itself.
    var line: [UInt8] = []
    line.reserveCapacity(512)
    line.append(contentsOf: #"{"ts":""#.utf8)
    Self.appendTimestamp(to: &line)
    line.append(contentsOf: #"","level":""#.utf8)
    line.append(contentsOf: event.level.rawValue.utf8)
    line.append(contentsOf: #"","logger":"#.utf8)
    JSONText.appendQuoted(self.label, to: &line)
    line.append(contentsOf: #","msg":"#.utf8)
    JSONText.appendQuoted(event.message.description, to: &line)
    // Keys in order, so lines are stable; the event's metadata wins over the handler's.
    var merged = self.metadata
    if let extra = event.metadata {
      if merged.isEmpty { merged = extra } else { merged.merge(extra) { $1 } }
    }
    for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
      line.append(UInt8(ascii: ","))
      JSONText.appendQuoted(key, to: &line)
      line.append(UInt8(ascii: ":"))
      switch value {
      case .string(let text): JSONText.appendQuoted(text, to: &line)
      default: JSONText.appendQuoted(value.description, to: &line)
      }
    }
    line.append(contentsOf: "}\n".utf8)
    line.withUnsafeBytes { self.output($0) }
  }

  /// UTC, millisecond precision: 2026-11-22T12:00:00.123Z
  private static func appendTimestamp(to line: inout [UInt8]) {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func digits(_ value: Int, _ width: Int) {
      var divisor = 1
      for _ in 1..<width { divisor *= 10 }
      var rest = value
      while divisor > 0 {
        line.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
        rest %= divisor
        divisor /= 10
      }
    }
    digits(Int(parts.tm_year) + 1900, 4)
    line.append(UInt8(ascii: "-"))
    digits(Int(parts.tm_mon) + 1, 2)
    line.append(UInt8(ascii: "-"))
    digits(Int(parts.tm_mday), 2)
    line.append(UInt8(ascii: "T"))
    digits(Int(parts.tm_hour), 2)
    line.append(UInt8(ascii: ":"))
    digits(Int(parts.tm_min), 2)
    line.append(UInt8(ascii: ":"))
    digits(Int(parts.tm_sec), 2)
    line.append(UInt8(ascii: "."))
    digits(Int(now.tv_nsec) / 1_000_000, 3)
    line.append(UInt8(ascii: "Z"))
  }
}

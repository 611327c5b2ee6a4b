/// The `grpc-timeout` header: at most 8 ASCII digits followed by a unit
/// (`H` hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds).
public enum GRPCTimeout {
  /// Parses a header value; `nil` when it is malformed.
  public static func parse(_ value: String) -> Duration? {
    let utf8 = Array(value.utf8)
    guard utf8.count >= 2, utf8.count <= 9, let unit = utf8.last else { return nil }
    var amount: Int64 = 0
    for digit in utf8.dropLast() {
      guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
      amount = amount * 10 + Int64(digit - UInt8(ascii: "0"))
    }
    switch unit {
    case UInt8(ascii: "H"): return .seconds(amount * 3600)
    case UInt8(ascii: "M"): return .seconds(amount * 60)
    case UInt8(ascii: "S"): return .seconds(amount)
    case UInt8(ascii: "m"): return .milliseconds(amount)
    case UInt8(ascii: "u"): return .microseconds(amount)
    case UInt8(ascii: "n"): return .nanoseconds(amount)
    default: return nil
    }
  }

  /// Formats `duration` with the finest unit that keeps the value within 8 digits, rounding up
  /// so that the peer never sees a shorter timeout than the caller's.
  public static func format(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return "1n" }
    let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    let sum = nanos.partialValue.addingReportingOverflow((attoseconds + 999_999_999) / 1_000_000_000)
    let totalNanos = nanos.overflow || sum.overflow ? Int64.max : sum.partialValue
    let limit: Int64 = 99_999_999
    let units: [(Int64, Character)] = [
      (1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"), (60_000_000_000, "M"),
      (3_600_000_000_000, "H"),
    ]
    for (scale, unit) in units {
      let value = totalNanos / scale + (totalNanos % scale == 0 ? 0 : 1)
      if value <= limit { return "\(value)\(unit)" }
    }
    return "\(limit)H"
  }
}

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// UUIDs travel as their 16 bytes (`uuid`).
extension UUID: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .uuid }

  public func encode(into buffer: inout [UInt8]) {
    withUnsafeBytes(of: self.uuid) { buffer.append(contentsOf: $0) }
  }

  public func encodeText(into text: inout String) { text += self.uuidString }

  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    guard cell.dataType == .uuid else { throw cell.typeMismatch(expected: "uuid") }
    guard bytes.count == 16 else { throw PostgresError.decoding("malformed uuid") }
    var tuple: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &tuple) { raw in
      for (offset, byte) in bytes.enumerated() { raw[offset] = byte }
    }
    self.init(uuid: tuple)
  }
}

/// Dates are bound as `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC, rounded to the
/// nearest microsecond (PostgreSQL's resolution). Decoding accepts timestamptz and timestamp
/// (read as UTC); `infinity` / `-infinity` throw a decoding error.
extension Date: PostgresEncodable, PostgresDecodable {
  /// Seconds from 2000-01-01 (PostgreSQL's epoch) to 2001-01-01 (Foundation's reference date).
  static let postgresEpochOffsetMicroseconds: Int64 = 31_622_400 * 1_000_000

  public static var postgresType: PostgresDataType { .timestamptz }

  /// Microseconds since 2000-01-01 00:00:00 UTC.
  var postgresMicroseconds: Int64 {
    let sinceReference = (self.timeIntervalSinceReferenceDate * 1_000_000).rounded()
    return Int64(sinceReference) + Date.postgresEpochOffsetMicroseconds
  }

  public func encode(into buffer: inout [UInt8]) {
    buffer.appendBigEndian(self.postgresMicroseconds)
  }

  public func encodeText(into text: inout String) {
    text += formatTimestampUTC(microsecondsSince2000: self.postgresMicroseconds)
  }

  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    guard cell.dataType == .timestamptz || cell.dataType == .timestamp else {
      throw cell.typeMismatch(expected: "timestamptz or timestamp")
    }
    let micros = try decodeExactInteger(bytes, as: Int64.self)
    guard micros != .max, micros != .min else {
      throw PostgresError.decoding("infinite timestamp cannot be represented as Date")
    }
    let sinceReference = micros - Date.postgresEpochOffsetMicroseconds
    self.init(timeIntervalSinceReferenceDate: Double(sinceReference) / 1_000_000)
  }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff+00` (with ` BC` for years before 1), PostgreSQL's ISO input.
func formatTimestampUTC(microsecondsSince2000 micros: Int64) -> String {
  // Days since 1970-01-01 plus time of day, using floor division so instants before 1970 work.
  let unixMicros = micros + 946_684_800 * 1_000_000
  let microsPerDay: Int64 = 86_400_000_000
  var days = unixMicros / microsPerDay
  var timeOfDay = unixMicros % microsPerDay
  if timeOfDay < 0 {
    timeOfDay += microsPerDay
    days -= 1
  }
  // Civil date from a day count (proleptic Gregorian calendar), era-based arithmetic.
  let z = days + 719_468
  let era = (z >= 0 ? z : z - 146_096) / 146_097
  let dayOfEra = z - era * 146_097
  let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
  let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
  let monthIndex = (5 * dayOfYear + 2) / 153
  let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
  let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
  let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)

  let seconds = timeOfDay / 1_000_000
  let fraction = timeOfDay % 1_000_000
  func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }
  let displayYear = year >= 1 ? year : 1 - year
  var text = "\(pad(displayYear, 4))-\(pad(month, 2))-\(pad(day, 2)) "
  text += "\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))"
  text += ".\(pad(fraction, 6))+00"
  if year < 1 { text += " BC" }
  return text
}

/// An exact decimal number for `numeric` columns: money is never floating point.
///
/// The value is `significand × 10^-scale` with arbitrarily many digits, kept exactly as the
/// server sends it, including the scale (`1.50` stays `1.50`). Equality, hashing and ordering are
/// numeric (`1.50 == 1.5`), like PostgreSQL's `numeric`. This is a value carrier, not an
/// arithmetic library: convert to minor units with ``significand(atScale:)`` to compute.
///
/// ```swift
/// let price: PostgresDecimal = "19.99"
/// let cents = price.significand(atScale: 2)  // 1999
/// let total = PostgresDecimal(significand: 123_45, scale: 2)  // 123.45
/// ```
///
/// `NaN` and `±Infinity` numerics cannot be represented and throw a decoding error.
public struct PostgresDecimal: Sendable, Hashable, Comparable, CustomStringConvertible,
  LosslessStringConvertible, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral
{
  /// Decimal digits (0...9) of |significand|, without leading zeros; empty for zero.
  private var digits: [UInt8]
  /// Number of digits after the decimal point (PostgreSQL's display scale), 0...16383.
  public private(set) var scale: Int
  /// Whether the value is below zero (zero is never negative).
  public private(set) var isNegative: Bool

  /// The largest display scale PostgreSQL accepts.
  public static let maximumScale = 16383

  private init(digits: [UInt8], scale: Int, isNegative: Bool) {
    var digits = digits
    if let firstNonZero = digits.firstIndex(where: { $0 != 0 }) {
      digits.removeFirst(firstNonZero)
    } else {
      digits = []
    }
    self.digits = digits
    self.scale = scale
    self.isNegative = isNegative && !digits.isEmpty
  }

  /// The value `significand × 10^-scale`, for example `(12345, scale: 2)` is `123.45`.
  public init(significand: Int64, scale: Int = 0) {
    precondition((0...Self.maximumScale).contains(scale), "scale out of range: \(scale)")
    let digits = String(significand.magnitude).utf8.map { $0 - UInt8(ascii: "0") }
    self.init(digits: digits, scale: scale, isNegative: significand < 0)
  }

  /// The integer `value` with scale 0.
  public init(_ value: Int64) {
    self.init(significand: value, scale: 0)
  }

  public init(integerLiteral value: Int64) {
    self.init(significand: value, scale: 0)
  }

  /// Parses `[+-]digits[.digits][e[+-]digits]`; `nil` when malformed or the scale is out of range.
  public init?(_ description: String) {
    var utf8 = Substring(description).utf8[...]
    var negative = false
    if let first = utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
      negative = first == UInt8(ascii: "-")
      utf8 = utf8.dropFirst()
    }
    var digits: [UInt8] = []
    var scale = 0
    var seenPoint = false
    var seenDigit = false
    var exponent = 0
    while let byte = utf8.first {
      if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
        digits.append(byte - UInt8(ascii: "0"))
        seenDigit = true
        if seenPoint { scale += 1 }
      } else if byte == UInt8(ascii: ".") && !seenPoint {
        seenPoint = true
      } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
        guard seenDigit, let parsed = Int(String(decoding: utf8.dropFirst(), as: UTF8.self)),
          abs(parsed) <= 2 * Self.maximumScale
        else { return nil }
        exponent = parsed
        utf8 = utf8[utf8.endIndex...]
        break
      } else {
        return nil
      }
      utf8 = utf8.dropFirst()
    }
    guard seenDigit else { return nil }
    // Apply the exponent by moving the decimal point.
    scale -= exponent
    if scale < 0 {
      digits.append(contentsOf: repeatElement(0, count: -scale))
      scale = 0
    }
    guard scale <= Self.maximumScale else { return nil }
    self.init(digits: digits, scale: scale, isNegative: negative)
  }

  /// Parses a literal; traps when it is not a valid decimal (literals are programmer input).
  public init(stringLiteral value: String) {
    guard let parsed = PostgresDecimal(value) else {
      preconditionFailure("invalid PostgresDecimal literal: \(value)")
    }
    self = parsed
  }

  /// Whether the value is zero.
  public var isZero: Bool { self.digits.isEmpty }

  /// The canonical text with exactly ``scale`` fraction digits, for example `-0.050`.
  public var description: String {
    var text = self.isNegative ? "-" : ""
    let count = self.digits.count
    let intCount = count - self.scale
    let zero = UInt8(ascii: "0")
    var bytes: [UInt8] = []
    if intCount > 0 {
      bytes.append(contentsOf: self.digits[..<intCount].map { $0 + zero })
    } else {
      bytes.append(zero)
    }
    if self.scale > 0 {
      bytes.append(UInt8(ascii: "."))
      if intCount < 0 {
        bytes.append(contentsOf: repeatElement(zero, count: -intCount))
      }
      bytes.append(contentsOf: self.digits[max(0, intCount)...].map { $0 + zero })
    }
    text += String(decoding: bytes, as: UTF8.self)
    return text
  }

  /// The value scaled to `scale` fraction digits as an integer (for example cents for scale 2),
  /// or `nil` when that would drop non-zero digits or overflow `Int64`.
  public func significand(atScale scale: Int) -> Int64? {
    let normalized = self.normalized
    guard normalized.scale <= scale else { return nil }
    var result: Int64 = 0
    let extra = scale - normalized.scale
    for digit in normalized.digits + repeatElement(0, count: extra) {
      let (multiplied, overflow1) = result.multipliedReportingOverflow(by: 10)
      let (added, overflow2) = multiplied.addingReportingOverflow(Int64(digit))
      guard !overflow1, !overflow2 else { return nil }
      result = added
    }
    return self.isNegative ? -result : result
  }

  /// Same value with trailing fraction zeros removed.
  private var normalized: (digits: ArraySlice<UInt8>, scale: Int) {
    var digits = self.digits[...]
    var scale = self.scale
    while scale > 0, let last = digits.last, last == 0 {
      digits = digits.dropLast()
      scale -= 1
    }
    if digits.isEmpty { scale = 0 }
    return (digits, scale)
  }

  public static func == (lhs: PostgresDecimal, rhs: PostgresDecimal) -> Bool {
    let l = lhs.normalized
    let r = rhs.normalized
    return lhs.isNegative == rhs.isNegative && l.scale == r.scale && l.digits.elementsEqual(r.digits)
  }

  public func hash(into hasher: inout Hasher) {
    let n = self.normalized
    hasher.combine(self.isNegative)
    hasher.combine(n.scale)
    for digit in n.digits { hasher.combine(digit) }
  }

  public static func < (lhs: PostgresDecimal, rhs: PostgresDecimal) -> Bool {
    if lhs.isNegative != rhs.isNegative { return lhs.isNegative }
    let magnitudeLess = Self.magnitudeLess(lhs, rhs)
    let magnitudeGreater = Self.magnitudeLess(rhs, lhs)
    return lhs.isNegative ? magnitudeGreater : magnitudeLess
  }

  private static func magnitudeLess(_ lhs: PostgresDecimal, _ rhs: PostgresDecimal) -> Bool {
    let l = lhs.normalized
    let r = rhs.normalized
    if l.digits.isEmpty || r.digits.isEmpty { return l.digits.isEmpty && !r.digits.isEmpty }
    // Position of the most significant digit relative to the decimal point.
    let lExponent = l.digits.count - l.scale
    let rExponent = r.digits.count - r.scale
    if lExponent != rExponent { return lExponent < rExponent }
    return l.digits.lexicographicallyPrecedes(r.digits)
  }
}

// MARK: - Binary numeric format

// numeric's binary form: int16 ndigits, int16 weight, uint16 sign, uint16 dscale, then ndigits
// int16 base-10000 digits; value = Σ digit[i] × 10000^(weight − i).
extension PostgresDecimal: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .numeric }

  public func encode(into buffer: inout [UInt8]) {
    let count = self.digits.count
    let intCount = max(0, count - self.scale)
    var intDigits = Array(self.digits[..<intCount])
    var fracDigits: [UInt8] = []
    if count < self.scale { fracDigits.append(contentsOf: repeatElement(0, count: self.scale - count)) }
    fracDigits.append(contentsOf: self.digits[intCount...])
    intDigits.insert(contentsOf: repeatElement(0, count: (4 - intDigits.count % 4) % 4), at: 0)
    fracDigits.append(contentsOf: repeatElement(0, count: (4 - fracDigits.count % 4) % 4))

    var groups: [Int16] = []
    func appendGroups(_ digits: [UInt8]) {
      var index = 0
      while index < digits.count {
        var group: Int16 = 0
        for digit in digits[index..<index + 4] { group = group * 10 + Int16(digit) }
        groups.append(group)
        index += 4
      }
    }
    appendGroups(intDigits)
    var weight = intDigits.count / 4 - 1
    appendGroups(fracDigits)
    while let first = groups.first, first == 0 {
      groups.removeFirst()
      weight -= 1
    }
    while let last = groups.last, last == 0 { groups.removeLast() }
    if groups.isEmpty { weight = 0 }

    buffer.appendBigEndian(Int16(groups.count))
    buffer.appendBigEndian(Int16(weight))
    buffer.appendBigEndian(UInt16(self.isNegative ? 0x4000 : 0x0000))
    buffer.appendBigEndian(UInt16(self.scale))
    for group in groups { buffer.appendBigEndian(group) }
  }

  public func encodeText(into text: inout String) { text += self.description }

  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    switch cell.dataType {
    case .numeric:
      break
    case .int2, .int4, .int8:
      self.init(try Int64(from: cell))
      return
    default:
      throw cell.typeMismatch(expected: "numeric, int2, int4 or int8")
    }
    var reader = ByteReader(bytes)
    let ndigits = Int(try reader.readInteger(as: Int16.self))
    let weight = Int(try reader.readInteger(as: Int16.self))
    let sign = try reader.readInteger(as: UInt16.self)
    let dscale = Int(try reader.readInteger(as: UInt16.self))
    switch sign {
    case 0x0000, 0x4000: break
    case 0xC000: throw PostgresError.decoding("numeric NaN cannot be represented as PostgresDecimal")
    default: throw PostgresError.decoding("infinite numeric cannot be represented as PostgresDecimal")
    }
    guard ndigits >= 0, dscale <= Self.maximumScale else {
      throw PostgresError.decoding("malformed numeric header")
    }
    var groups: [Int] = []
    groups.reserveCapacity(ndigits)
    for _ in 0..<ndigits {
      let group = Int(try reader.readInteger(as: Int16.self))
      guard (0...9999).contains(group) else { throw PostgresError.decoding("malformed numeric digit") }
      groups.append(group)
    }
    try reader.requireEnd()

    func groupDigits(_ index: Int, into digits: inout [UInt8]) {
      let group = (index >= 0 && index < groups.count) ? groups[index] : 0
      digits.append(UInt8(group / 1000))
      digits.append(UInt8(group / 100 % 10))
      digits.append(UInt8(group / 10 % 10))
      digits.append(UInt8(group % 10))
    }
    var digits: [UInt8] = []
    if weight >= 0 {
      for index in 0...weight { groupDigits(index, into: &digits) }
    }
    var fraction: [UInt8] = []
    let fractionGroups = (dscale + 3) / 4
    for k in 0..<fractionGroups { groupDigits(weight + 1 + k, into: &fraction) }
    digits.append(contentsOf: fraction.prefix(dscale))
    self.init(digits: digits, scale: dscale, isNegative: sign == 0x4000)
  }
}

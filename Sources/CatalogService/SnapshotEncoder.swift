#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CatalogV1Protos
import RPCCore

/// Validates stock snapshot rows on their bytes and encodes the good ones as rows of
/// PostgreSQL's binary COPY format for `stock_snapshots`; collects what the end of an import
/// needs (dates, client codes, repeated keys) and the report of rejected rows.
///
/// No `String` is made per field or per row on the way of a good row: fields are byte ranges of
/// the line, dates, whole numbers and decimals are checked and converted on their digits, text
/// columns are copied as they are (their UTF-8 is checked once per line, and only for lines
/// with bytes above 0x7F).
struct SnapshotEncoder {
  /// Columns of ``output``'s rows, in order.
  static let columns = [
    "import_id", "tenant_id", "snapshot_date", "client_code", "centre", "material_type", "origin", "product_code",
    "lot", "days_in_stock", "product_form", "merchandise_group", "total_tonnes", "sku",
  ]
  static let fieldCount = 12
  /// Rejected rows kept with their reason in the report (all are counted).
  static let reportedErrors = 1000

  /// Encoded rows not sent yet (binary COPY rows, without the file header and trailer).
  var output: [UInt8] = []
  private(set) var report = Catalog_V1_ImportReport()
  /// Every snapshot date of a good row, as days since 2000-01-01, with its ISO text.
  private(set) var dates: [Int32: String] = [:]
  /// A good row whose key (date, client, centre, product code, lot) may have been seen before in
  /// this import: it is not in ``output``; the import applies it after the COPY, replacing the
  /// earlier row with that key (the last row of a key wins). Keyed by the exact key, field by
  /// field.
  private(set) var repeated: [SnapshotRow.Key: SnapshotRow] = [:]

  private let prefix: [UInt8]
  private var keyHashes = Set<Int>()
  /// Client codes of up to 17 digits, packed as value << 5 | digit count (leading zeros count).
  private var packedClientCodes = Set<UInt64>()
  private var longClientCodes = Set<String>()
  private var lastDate: Int32 = .min
  /// Field boundaries of the current row: field `i` is `starts[i]..<ends[i]` of the line.
  private var starts = [Int](repeating: 0, count: SnapshotEncoder.fieldCount)
  private var ends = [Int](repeating: 0, count: SnapshotEncoder.fieldCount)
  /// Scratch for rows that do not come from a line (``add(_:line:)``).
  private var scratch: [UInt8] = []

  init(tenantID: UUID, importID: UUID) {
    // Every row starts with the field count and the two UUIDs.
    var prefix: [UInt8] = [0, UInt8(Self.columns.count)]
    for id in [importID, tenantID] {
      prefix += [0, 0, 0, 16]
      withUnsafeBytes(of: id.uuid) { prefix += $0 }
    }
    self.prefix = prefix
    self.output.reserveCapacity(1 << 21)
  }

  /// Client codes of the good rows, each once.
  var clientCodes: [String] {
    self.packedClientCodes.map { packed in
      let width = Int(packed & 31)
      let digits = String(packed >> 5)
      return String(repeating: "0", count: width - digits.count) + digits
    } + self.longClientCodes
  }

  mutating func reject(line: Int64, reason: String) {
    self.report.rowsRejected += 1
    if self.report.errors.count < Self.reportedErrors {
      var error = Catalog_V1_RowError()
      error.line = line
      error.reason = reason
      self.report.errors.append(error)
    }
  }

  // MARK: Rows

  /// One line of the pipe-delimited export (without its line feed; a final carriage return is
  /// ignored). Blank lines are skipped; bad lines are reported with `number`.
  mutating func add(line raw: UnsafeRawBufferPointer, number: Int64) {
    var count = raw.count
    if count > 0 && raw[count - 1] == UInt8(ascii: "\r") { count -= 1 }
    let line = UnsafeRawBufferPointer(rebasing: raw[0..<count])
    var separators = 0
    var high: UInt8 = 0
    var zero = false
    var blank = true
    self.starts[0] = 0
    for index in 0..<count {
      let byte = line[index]
      high |= byte
      if byte == UInt8(ascii: "|") {
        if separators < Self.fieldCount - 1 {
          self.ends[separators] = index
          self.starts[separators + 1] = index + 1
        }
        separators += 1
        blank = false
      } else if byte <= 0x20 {
        if byte == 0 { zero = true }
        if byte != 0x20 && byte != 0x09 { blank = false }
      } else {
        blank = false
      }
    }
    if blank { return }
    if high >= 0x80 && !Self.isValidUTF8(line) {
      self.reject(line: number, reason: "not valid UTF-8")
      return
    }
    guard separators == Self.fieldCount - 1 else {
      self.reject(
        line: number, reason: "expected \(Self.fieldCount) fields separated by |, found \(separators + 1)")
      return
    }
    if zero {
      self.reject(line: number, reason: "contains a NUL byte")
      return
    }
    self.ends[Self.fieldCount - 1] = count
    self.addFields(of: line, number: number)
  }

  /// One row of `ImportSnapshots`.
  mutating func add(_ row: Catalog_V1_StockSnapshotRow, line number: Int64) {
    let fields = [
      row.date, row.clientCode, row.centre, row.materialType, row.origin, row.productCode, row.lot,
      String(row.daysInStock), row.productForm, row.merchandiseGroup, row.totalTonnes, row.sku,
    ]
    var scratch = self.scratch
    self.scratch = []
    scratch.removeAll(keepingCapacity: true)
    var zero = false
    for (index, field) in fields.enumerated() {
      self.starts[index] = scratch.count
      scratch.append(contentsOf: field.utf8)
      self.ends[index] = scratch.count
      zero = zero || field.utf8.contains(0)
    }
    if zero {
      self.reject(line: number, reason: "contains a NUL byte")
    } else {
      scratch.withUnsafeBytes { self.addFields(of: $0, number: number) }
    }
    self.scratch = scratch
  }

  /// Validates the fields at ``starts``/``ends`` of `line` (valid UTF-8, no NUL) and encodes the
  /// row, or rejects it.
  private mutating func addFields(of line: UnsafeRawBufferPointer, number: Int64) {
    // Trim spaces and tabs around every field.
    for index in 0..<Self.fieldCount {
      var start = self.starts[index]
      var end = self.ends[index]
      while start < end && (line[start] == 0x20 || line[start] == 0x09) { start += 1 }
      while end > start && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
      self.starts[index] = start
      self.ends[index] = end
    }
    func field(_ index: Int) -> UnsafeRawBufferPointer {
      UnsafeRawBufferPointer(rebasing: line[self.starts[index]..<self.ends[index]])
    }
    func text(_ index: Int, _ limit: Int) -> String {
      String(String(decoding: field(index), as: UTF8.self).prefix(limit))
    }
    guard let date = Self.date(field(0)) else {
      self.reject(line: number, reason: "data \"\(text(0, 20))\" is not a date (YYYY-MM-DD or DD/MM/YYYY)")
      return
    }
    for index in 0..<3 {
      let value = field(index == 0 ? 2 : index + 4)
      guard !value.isEmpty, Self.characterCount(value, atMost: 64) else {
        self.reject(line: number, reason: "\(["es_centro", "cod_produto", "lote"][index]) is empty or longer than 64")
        return
      }
    }
    let client = field(1)
    guard !client.isEmpty, client.count <= 20, client.allSatisfy({ $0 &- 0x30 < 10 }) else {
      self.reject(line: number, reason: "cod_cliente \"\(text(1, 24))\" is not a client code (1 to 20 digits)")
      return
    }
    guard let days = Self.wholeNumber(field(7)), days >= 0 else {
      self.reject(line: number, reason: "dias_em_estoque \"\(text(7, 20))\" is not a whole number of days")
      return
    }
    guard let thousandths = Self.thousandths(field(10)) else {
      self.reject(line: number, reason: "es_totalestoque \"\(text(10, 20))\" is not a decimal number of tonnes")
      return
    }
    self.report.rowsLoaded += 1

    if date.days != self.lastDate {
      self.lastDate = date.days
      if self.dates[date.days] == nil { self.dates[date.days] = Self.iso(date) }
    }
    if client.count <= 17 {
      var value: UInt64 = 0
      for digit in client { value = value &* 10 &+ UInt64(digit &- 0x30) }
      self.packedClientCodes.insert(value << 5 | UInt64(client.count))
    } else {
      self.longClientCodes.insert(String(decoding: client, as: UTF8.self))
    }

    // The row's key: a repeated hash (a repeated key, or rarely another key with the same
    // hash) sends the row through the slower path that replaces by exact key.
    var hasher = Hasher()
    hasher.combine(date.days)
    for position in 0..<4 {
      let value = field(position < 2 ? position + 1 : position + 3)
      hasher.combine(value.count)
      hasher.combine(bytes: value)
    }
    guard self.keyHashes.insert(hasher.finalize()).inserted else {
      func string(_ index: Int) -> String { String(decoding: field(index), as: UTF8.self) }
      let row = SnapshotRow(
        date: Self.iso(date), clientCode: string(1), centre: string(2), materialType: string(3), origin: string(4),
        productCode: string(5), lot: string(6), daysInStock: days, productForm: string(8),
        merchandiseGroup: string(9), tonnes: Self.decimalText(thousandths), sku: string(11))
      self.repeated[row.key] = row
      return
    }

    self.output.append(contentsOf: self.prefix)
    self.appendInt32(4)
    self.appendInt32(date.days)
    for index in 1...6 { self.appendField(field(index)) }
    self.appendInt32(4)
    self.appendInt32(days)
    self.appendField(field(8))
    self.appendField(field(9))
    self.appendNumeric(thousandths: thousandths)
    self.appendField(field(11))
  }

  // MARK: Binary COPY fields

  private mutating func appendInt32(_ value: Int32) {
    let bits = UInt32(bitPattern: value)
    self.output.append(UInt8(truncatingIfNeeded: bits >> 24))
    self.output.append(UInt8(truncatingIfNeeded: bits >> 16))
    self.output.append(UInt8(truncatingIfNeeded: bits >> 8))
    self.output.append(UInt8(truncatingIfNeeded: bits))
  }

  private mutating func appendInt16(_ value: Int16) {
    let bits = UInt16(bitPattern: value)
    self.output.append(UInt8(truncatingIfNeeded: bits >> 8))
    self.output.append(UInt8(truncatingIfNeeded: bits))
  }

  /// A `text` value: its UTF-8 bytes.
  private mutating func appendField(_ bytes: UnsafeRawBufferPointer) {
    self.appendInt32(Int32(bytes.count))
    self.output.append(contentsOf: bytes)
  }

  /// A non-negative `numeric` of `thousandths / 1000` in `numeric_send`'s form: digit count,
  /// weight (base-10000 exponent of the first digit), sign, display scale, then base-10000
  /// digits without leading or trailing zero digits.
  private mutating func appendNumeric(thousandths: UInt64) {
    let whole = thousandths / 1000
    let fraction = Int16(thousandths % 1000) * 10
    // The whole part has at most 15 decimal digits: at most 4 base-10000 digits.
    var wholeCount = 0
    var probe = whole
    while probe > 0 {
      wholeCount += 1
      probe /= 10000
    }
    var digits: (Int16, Int16, Int16, Int16, Int16) = (0, 0, 0, 0, 0)
    var count = 0
    withUnsafeMutableBytes(of: &digits) { raw in
      let slots = raw.bindMemory(to: Int16.self)
      var rest = whole
      var slot = wholeCount - 1
      while slot >= 0 {
        slots[slot] = Int16(rest % 10000)
        rest /= 10000
        slot -= 1
      }
      count = wholeCount
      if fraction != 0 {
        slots[count] = fraction
        count += 1
      }
      while count > 0 && slots[count - 1] == 0 { count -= 1 }
    }
    self.appendInt32(Int32(8 + 2 * count))
    self.appendInt16(Int16(count))
    self.appendInt16(count == 0 ? 0 : Int16(wholeCount - 1))  // -1 when below 1
    self.appendInt16(0)  // sign: positive
    self.appendInt16(3)  // display scale: numeric(18, 3)
    withUnsafeBytes(of: digits) { raw in
      let slots = raw.bindMemory(to: Int16.self)
      for index in 0..<count { self.appendInt16(slots[index]) }
    }
  }

  // MARK: Field checks on bytes

  /// A valid calendar date: days since 2000-01-01 (PostgreSQL's `date` epoch) and its parts.
  struct CalendarDate {
    var days: Int32
    var year: Int
    var month: Int
    var day: Int
  }

  /// `YYYY-MM-DD` or `DD/MM/YYYY` (month and day with any number of digits), or `nil` when it is
  /// not a date that exists.
  static func date(_ bytes: UnsafeRawBufferPointer) -> CalendarDate? {
    let dayFirst = !bytes.contains(UInt8(ascii: "-"))
    let separator = dayFirst ? UInt8(ascii: "/") : UInt8(ascii: "-")
    var parts: (Int, Int, Int) = (0, 0, 0)
    var lengths: (Int, Int, Int) = (0, 0, 0)
    var part = 0
    var value = 0
    var length = 0
    for byte in bytes {
      if byte == separator {
        guard part < 2, length > 0 else { return nil }
        if part == 0 { (parts.0, lengths.0) = (value, length) } else { (parts.1, lengths.1) = (value, length) }
        part += 1
        value = 0
        length = 0
      } else {
        let digit = byte &- 0x30
        guard digit < 10, length < 9 else { return nil }
        value = value * 10 + Int(digit)
        length += 1
      }
    }
    guard part == 2, length > 0 else { return nil }
    (parts.2, lengths.2) = (value, length)
    let (year, month, day, yearLength) =
      dayFirst ? (parts.2, parts.1, parts.0, lengths.2) : (parts.0, parts.1, parts.2, lengths.0)
    guard yearLength == 4, year >= 1, (1...12).contains(month) else { return nil }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    guard (1...monthDays).contains(day) else { return nil }
    // Days from the civil date (H. Hinnant's algorithm), then from 1970-01-01 to 2000-01-01.
    let y = month <= 2 ? year - 1 : year
    let era = y / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    let days = era * 146_097 + dayOfEra - 719_468 - 10_957
    return CalendarDate(days: Int32(days), year: year, month: month, day: day)
  }

  /// `YYYY-MM-DD`.
  static func iso(_ date: CalendarDate) -> String {
    func padded(_ value: Int, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(padded(date.year, 4))-\(padded(date.month, 2))-\(padded(date.day, 2))"
  }

  /// A 32-bit whole number with an optional sign (as `Int32(_:)` reads it).
  static func wholeNumber(_ bytes: UnsafeRawBufferPointer) -> Int32? {
    var index = 0
    var negative = false
    if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
      negative = first == UInt8(ascii: "-")
      index = 1
    }
    guard index < bytes.count else { return nil }
    var value: Int64 = 0
    while index < bytes.count {
      let digit = bytes[index] &- 0x30
      guard digit < 10 else { return nil }
      value = value * 10 + Int64(digit)
      guard value <= Int64(Int32.max) + 1 else { return nil }
      index += 1
    }
    return Int32(exactly: negative ? -value : value)
  }

  /// Tonnes: `12.345`, `12,345` (decimal comma) or `1.234,5` (dot thousands, decimal comma); up
  /// to 15 whole digits and 3 decimals; no sign, no exponent. Returns thousandths of a tonne.
  static func thousandths(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
    let decimalComma = bytes.contains(UInt8(ascii: ","))
    let point = decimalComma ? UInt8(ascii: ",") : UInt8(ascii: ".")
    var whole: UInt64 = 0
    var wholeDigits = 0
    var fraction: UInt64 = 0
    var fractionDigits = 0
    var seenPoint = false
    for byte in bytes {
      if byte == point {
        guard !seenPoint else { return nil }
        seenPoint = true
      } else if decimalComma && byte == UInt8(ascii: ".") {
        continue  // a thousands separator
      } else {
        let digit = byte &- 0x30
        guard digit < 10 else { return nil }
        if seenPoint {
          fractionDigits += 1
          guard fractionDigits <= 3 else { return nil }
          fraction = fraction * 10 + UInt64(digit)
        } else {
          wholeDigits += 1
          guard wholeDigits <= 15 else { return nil }
          whole = whole * 10 + UInt64(digit)
        }
      }
    }
    guard wholeDigits > 0, !seenPoint || fractionDigits > 0 else { return nil }
    for _ in fractionDigits..<3 { fraction *= 10 }
    return whole * 1000 + fraction
  }

  /// `thousandths / 1000` as text with three decimals.
  static func decimalText(_ thousandths: UInt64) -> String {
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
  }

  /// Whether `bytes` (valid UTF-8) hold at most `limit` Unicode scalars.
  static func characterCount(_ bytes: UnsafeRawBufferPointer, atMost limit: Int) -> Bool {
    if bytes.count <= limit { return true }
    var scalars = 0
    for byte in bytes where byte & 0xC0 != 0x80 { scalars += 1 }
    return scalars <= limit
  }

  /// Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
  static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var index = 0
    let count = bytes.count
    func continuation(_ offset: Int) -> UInt8? {
      guard index + offset < count else { return nil }
      let byte = bytes[index + offset]
      return byte & 0xC0 == 0x80 ? byte : nil
    }
    while index < count {
      let lead = bytes[index]
      if lead < 0x80 {
        index += 1
      } else if lead < 0xC2 {
        return false
      } else if lead < 0xE0 {
        guard continuation(1) != nil else { return false }
        index += 2
      } else if lead < 0xF0 {
        guard let second = continuation(1), continuation(2) != nil else { return false }
        if lead == 0xE0 && second < 0xA0 { return false }
        if lead == 0xED && second >= 0xA0 { return false }
        index += 3
      } else if lead < 0xF5 {
        guard let second = continuation(1), continuation(2) != nil, continuation(3) != nil else { return false }
        if lead == 0xF0 && second < 0x90 { return false }
        if lead == 0xF4 && second >= 0x90 { return false }
        index += 4
      } else {
        return false
      }
    }
    return true
  }
}

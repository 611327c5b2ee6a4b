import Protos

/// One validated stock snapshot row, in the form the store writes.
struct StockSnapshot: Sendable, Hashable {
  /// `YYYY-MM-DD`.
  var date: String
  var clientCode: Int64
  var centre: String
  var materialType: String
  var origin: String
  var productCode: String
  var lot: String
  var daysInStock: Int64
  var productForm: String
  var merchandiseGroup: String
  /// A plain decimal with `.` as separator, not negative, at most 6 fraction digits.
  var totalTonnes: String
  var sku: String
}

/// Why a row was refused; the reason is shown to the importer next to the line number.
struct RowRejection: Error, Sendable, Equatable {
  var reason: String
}

/// Validation shared by the CSV lines and the streamed rows.
enum StockSnapshotParsing {
  /// The source system's header row, exactly.
  static let header =
    "data|cod_cliente|es_centro|tipo_material|origem|cod_produto|lote|dias_em_estoque|produto|grupo_mercadoria|es_totalestoque|SKU"
  static let fieldCount = 12

  /// Parses one CSV line (without its line break) of the source format.
  static func parse(line: Substring) throws(RowRejection) -> StockSnapshot {
    let fields = line.split(separator: "|", omittingEmptySubsequences: false)
    guard fields.count == Self.fieldCount else {
      throw RowRejection(reason: "expected \(Self.fieldCount) fields separated by '|', found \(fields.count)")
    }
    guard let days = Int64(fields[7].trimmingSpaces) else {
      throw RowRejection(reason: "dias_em_estoque must be a whole number, got \(Self.quoted(fields[7]))")
    }
    return try Self.validate(
      date: fields[0], clientCode: fields[1], centre: fields[2], materialType: fields[3], origin: fields[4],
      productCode: fields[5], lot: fields[6], daysInStock: days, productForm: fields[8], merchandiseGroup: fields[9],
      totalTonnes: fields[10], sku: fields[11])
  }

  /// Validates a row streamed as a message.
  static func validate(_ row: Catalog_V1_StockSnapshotRow) throws(RowRejection) -> StockSnapshot {
    try Self.validate(
      date: row.date[...], clientCode: row.clientCode[...], centre: row.centre[...], materialType: row.materialType[...],
      origin: row.origin[...], productCode: row.productCode[...], lot: row.lot[...], daysInStock: Int64(row.daysInStock),
      productForm: row.productForm[...], merchandiseGroup: row.merchandiseGroup[...], totalTonnes: row.totalTonnes[...],
      sku: row.sku[...])
  }

  static func validate(
    date: Substring, clientCode: Substring, centre: Substring, materialType: Substring, origin: Substring,
    productCode: Substring, lot: Substring, daysInStock: Int64, productForm: Substring, merchandiseGroup: Substring,
    totalTonnes: Substring, sku: Substring
  ) throws(RowRejection) -> StockSnapshot {
    guard let day = Self.date(date.trimmingSpaces) else {
      throw RowRejection(reason: "data must be a date YYYY-MM-DD or DD/MM/YYYY, got \(Self.quoted(date))")
    }
    guard let client = Self.clientCode(clientCode.trimmingSpaces) else {
      throw RowRejection(reason: "cod_cliente must be a positive whole number, got \(Self.quoted(clientCode))")
    }
    let centre = try Self.text(centre, field: "es_centro", maximum: 16, required: true)
    guard centre.utf8.allSatisfy({ Self.isCodeByte($0) }) else {
      throw RowRejection(reason: "es_centro must be letters, digits, '-' or '_', got \(Self.quoted(centre[...]))")
    }
    guard (0...36_500).contains(daysInStock) else {
      throw RowRejection(reason: "dias_em_estoque must be in 0...36500, got \(daysInStock)")
    }
    guard let tonnes = Self.tonnes(totalTonnes.trimmingSpaces) else {
      throw RowRejection(
        reason: "es_totalestoque must be a decimal number of tonnes, not negative, at most 6 fraction digits, got \(Self.quoted(totalTonnes))")
    }
    return StockSnapshot(
      date: day, clientCode: client, centre: centre,
      materialType: try Self.text(materialType, field: "tipo_material", maximum: 64, required: true),
      origin: try Self.text(origin, field: "origem", maximum: 64, required: false),
      productCode: try Self.text(productCode, field: "cod_produto", maximum: 64, required: true),
      lot: try Self.text(lot, field: "lote", maximum: 64, required: true), daysInStock: daysInStock,
      productForm: try Self.text(productForm, field: "produto", maximum: 64, required: true),
      merchandiseGroup: try Self.text(merchandiseGroup, field: "grupo_mercadoria", maximum: 64, required: false),
      totalTonnes: tonnes, sku: try Self.text(sku, field: "SKU", maximum: 64, required: true))
  }

  // MARK: - Fields

  /// `YYYY-MM-DD` or `DD/MM/YYYY` → `YYYY-MM-DD`, only real calendar days of years 1900...2999.
  static func date(_ text: Substring) -> String? {
    let bytes = Array(text.utf8)
    func number(_ range: Range<Int>) -> Int? {
      var value = 0
      for index in range {
        let byte = bytes[index]
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
      }
      return value
    }
    guard bytes.count == 10 else { return nil }
    let year: Int?
    let month: Int?
    let day: Int?
    if bytes[4] == UInt8(ascii: "-") && bytes[7] == UInt8(ascii: "-") {
      (year, month, day) = (number(0..<4), number(5..<7), number(8..<10))
    } else if bytes[2] == UInt8(ascii: "/") && bytes[5] == UInt8(ascii: "/") {
      (year, month, day) = (number(6..<10), number(3..<5), number(0..<2))
    } else {
      return nil
    }
    guard let year, let month, let day, (1900...2999).contains(year), (1...12).contains(month) else { return nil }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    guard (1...lengths[month - 1]).contains(day) else { return nil }
    func padded(_ value: Int, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: width - digits.count) + digits
    }
    return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
  }

  /// A client code: 1 to 18 digits (leading zeros allowed), positive.
  static func clientCode(_ text: Substring) -> Int64? {
    guard (1...18).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
      let value = Int64(text), value > 0
    else { return nil }
    return value
  }

  /// Tonnes: up to 12 integer digits, optionally `.` or `,` and 1 to 6 fraction digits.
  static func tonnes(_ text: Substring) -> String? {
    var integer = 0
    var fraction = 0
    var separator = false
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for byte in text.utf8 {
      if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
        if separator { fraction += 1 } else { integer += 1 }
        out.unicodeScalars.append(Unicode.Scalar(byte))
      } else if (byte == UInt8(ascii: ".") || byte == UInt8(ascii: ",")) && !separator {
        separator = true
        out += "."
      } else {
        return nil
      }
    }
    guard (1...12).contains(integer), separator ? (1...6).contains(fraction) : fraction == 0 else { return nil }
    return out
  }

  static func text(_ raw: Substring, field: String, maximum: Int, required: Bool) throws(RowRejection) -> String {
    let value = raw.trimmingSpaces
    if value.isEmpty && required { throw RowRejection(reason: "\(field) is empty") }
    guard value.count <= maximum else { throw RowRejection(reason: "\(field) is longer than \(maximum) characters") }
    guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{FFFD}" }) else {
      throw RowRejection(reason: "\(field) contains control characters or invalid UTF-8")
    }
    return String(value)
  }

  static func isCodeByte(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
      || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
  }

  /// The value as shown in a reason: quoted, cut at 40 characters.
  static func quoted(_ value: Substring) -> String {
    value.count > 40 ? "\"\(value.prefix(40))…\"" : "\"\(value)\""
  }
}

extension Substring {
  /// Without leading and trailing spaces and tabs.
  var trimmingSpaces: Substring {
    var result = self
    while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
    while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
    return result
  }
}

import ArgumentParser
import Foundation

/// Writes synthetic stock and sales CSV files of a steel distributor in the source system's
/// pipe-delimited format. The same options always give the same bytes.
@main
struct CatalogDataGenerator: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "catalog-datagen",
    abstract: "Writes deterministic synthetic stock and sales CSV files (pipe-delimited, source format).",
    discussion: """
      Files: DIR/estoque.csv (header \(StockFile.header)) and DIR/vendas.csv (header \(SalesFile.header)).
      The defaults give about the size of the source's extract; use millions of rows for load tests.
      """)

  @Option(help: "Folder to write estoque.csv and vendas.csv into (created if missing).")
  var out: String

  @Option(help: "Stock snapshot rows.")
  var stockRows = 1473

  @Option(help: "Sales rows.")
  var salesRows = 17345

  @Option(help: "Distinct clients.")
  var clients = 120

  @Option(help: "Number of monthly stock snapshot dates, ending at --date.")
  var snapshotDates = 1

  @Option(help: "The newest snapshot date, YYYY-MM-DD; sales cover the year before it.")
  var date = "2024-06-30"

  @Option(help: "Seed of the pseudo-random generator.")
  var seed: UInt64 = 2024

  func validate() throws {
    guard self.stockRows >= 0, self.salesRows >= 0 else { throw ValidationError("Row counts must not be negative.") }
    guard self.clients >= 1, self.clients <= 80_000 else { throw ValidationError("--clients must be in 1...80000.") }
    guard (1...120).contains(self.snapshotDates) else { throw ValidationError("--snapshot-dates must be in 1...120.") }
    guard CalendarDay(parsing: self.date) != nil else { throw ValidationError("--date must be YYYY-MM-DD.") }
  }

  func run() throws {
    try FileManager.default.createDirectory(atPath: self.out, withIntermediateDirectories: true)
    var random = SplitMix64(seed: self.seed)
    let world = World(clients: self.clients, random: &random)
    let newest = CalendarDay(parsing: self.date)!
    try CSVFileWriter.write(path: self.out + "/estoque.csv") { emit in
      emit(StockFile.header)
      var stock = SplitMix64(seed: self.seed &+ 1)
      for index in 0..<self.stockRows {
        let snapshot = newest.endOfMonth(monthsBefore: index % self.snapshotDates)
        emit(StockFile.line(index: index, date: snapshot, world: world, random: &stock))
      }
    }
    try CSVFileWriter.write(path: self.out + "/vendas.csv") { emit in
      emit(SalesFile.header)
      var sales = SplitMix64(seed: self.seed &+ 2)
      for index in 0..<self.salesRows {
        let day = newest.adding(days: -Int(sales.next(below: 365)))
        emit(SalesFile.line(index: index, date: day, world: world, random: &sales))
      }
    }
    print("Wrote \(self.stockRows) stock rows to \(self.out)/estoque.csv and \(self.salesRows) sales rows to \(self.out)/vendas.csv.")
  }
}

/// The fixed vocabulary and the clients of one generated data set.
struct World {
  static let centres = ["1101", "1102", "21D1", "22D1", "31D1", "32D1", "41D1"]
  static let materialTypes = ["Materia Prima", "Produto Acabado"]
  static let origins = ["10", "20", "30", "40"]
  static let forms: [(name: String, prefix: String)] = [
    ("Bobina", "BQ"), ("Rolo", "RL"), ("Chapa", "CH"), ("Blank", "BK"), ("Tira", "TR"),
  ]
  static let groups: [(name: String, code: String)] = [
    ("Laminado a Frio", "LF"), ("Laminado a Quente", "LQ"), ("Galvanizado", "GA"), ("Zincado", "ZN"),
    ("Pré-Pintado", "PP"),
  ]
  static let thicknesses = ["0050", "0075", "0095", "0120", "0150", "0200", "0300", "0475", "0635"]
  static let widths = ["1000", "1200", "1250", "1500", "1800"]
  static let cities: [(city: String, state: String)] = [
    ("São Paulo", "SP"), ("Campinas", "SP"), ("Sorocaba", "SP"), ("São José dos Campos", "SP"),
    ("Belo Horizonte", "MG"), ("Contagem", "MG"), ("Betim", "MG"), ("Curitiba", "PR"), ("Londrina", "PR"),
    ("Joinville", "SC"), ("Blumenau", "SC"), ("Porto Alegre", "RS"), ("Caxias do Sul", "RS"),
    ("Rio de Janeiro", "RJ"), ("Vitória", "ES"), ("Salvador", "BA"), ("Recife", "PE"), ("Fortaleza", "CE"),
    ("Goiânia", "GO"), ("Manaus", "AM"),
  ]

  /// Client codes, ascending, 5 digits with leading zeros as the source writes them.
  var clientCodes: [String]
  /// Each client's city index.
  var clientCities: [Int]

  init(clients: Int, random: inout SplitMix64) {
    var codes = Set<Int>()
    while codes.count < clients { codes.insert(10_000 + Int(random.next(below: 89_999))) }
    self.clientCodes = codes.sorted().map { Self.padded($0, 5) }
    self.clientCities = self.clientCodes.map { _ in Int(random.next(below: UInt64(Self.cities.count))) }
  }

  /// A client, skewed: a few clients hold much of the stock.
  func client(_ random: inout SplitMix64) -> Int {
    let u = random.unit()
    return min(self.clientCodes.count - 1, Int(u * u * Double(self.clientCodes.count)))
  }

  /// A product: form, group and code such as `BQLF0120-1250`.
  func product(_ random: inout SplitMix64) -> (form: String, group: String, code: String, sku: String) {
    let form = Self.forms[Int(random.next(below: UInt64(Self.forms.count)))]
    let group = Self.groups[Int(random.next(below: UInt64(Self.groups.count)))]
    let thickness = Self.thicknesses[Int(random.next(below: UInt64(Self.thicknesses.count)))]
    let width = Self.widths[Int(random.next(below: UInt64(Self.widths.count)))]
    let code = "\(form.prefix)\(group.code)\(thickness)-\(width)"
    return (form.name, group.name, code, "SKU-\(code)")
  }

  static func padded(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }

  /// `thousandths` as a decimal with 3 fraction digits, such as `12.345`.
  static func tonnes(thousandths: UInt64) -> String {
    "\(thousandths / 1000).\(Self.padded(Int(thousandths % 1000), 3))"
  }
}

enum StockFile {
  static let header =
    "data|cod_cliente|es_centro|tipo_material|origem|cod_produto|lote|dias_em_estoque|produto|grupo_mercadoria|es_totalestoque|SKU"

  static func line(index: Int, date: CalendarDay, world: World, random: inout SplitMix64) -> String {
    let client = world.clientCodes[world.client(&random)]
    let centre = World.centres[Int(random.next(below: UInt64(World.centres.count)))]
    let material = random.unit() < 0.3 ? World.materialTypes[0] : World.materialTypes[1]
    let origin = World.origins[Int(random.next(below: UInt64(World.origins.count)))]
    let product = world.product(&random)
    // Lots are unique per row: no two rows share date, client, centre, product and lot.
    let lot = "L\(World.padded(index + 1, 8))"
    // Mostly young stock with a long tail of old lots.
    let days = Int(-log(1 - random.unit() * 0.999) * 45)
    let tonnes = World.tonnes(thousandths: 500 + random.next(below: 29_500))
    return [
      date.text, client, centre, material, origin, product.code, lot, String(min(days, 720)), product.form,
      product.group, tonnes, product.sku,
    ].joined(separator: "|")
  }
}

enum SalesFile {
  static let header =
    "data|cod_cliente|lote|origem|zs_gr_mercad|produto|cod_produto|zs_centro|zs_cidade|zs_uf|zs_peso_liquido|giro_sku_cliente|SKU"

  static func line(index: Int, date: CalendarDay, world: World, random: inout SplitMix64) -> String {
    let clientIndex = world.client(&random)
    let city = World.cities[world.clientCities[clientIndex]]
    let product = world.product(&random)
    let lot = "L\(World.padded(Int(random.next(below: 99_999_999)) + 1, 8))"
    let origin = World.origins[Int(random.next(below: UInt64(World.origins.count)))]
    let centre = World.centres[Int(random.next(below: UInt64(World.centres.count)))]
    let weight = World.tonnes(thousandths: 100 + random.next(below: 24_900))
    let turnover = 1 + random.next(below: 50)
    return [
      date.text, world.clientCodes[clientIndex], lot, origin, product.group, product.form, product.code, centre,
      city.city, city.state, weight, String(turnover), product.sku,
    ].joined(separator: "|")
  }
}

/// A day of the proleptic Gregorian calendar, as days since 1970-01-01.
struct CalendarDay {
  var days: Int

  init?(parsing text: String) {
    let parts = text.split(separator: "-")
    guard parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
      (1900...2999).contains(y), (1...12).contains(m), (1...Self.monthLength(y, m)).contains(d)
    else { return nil }
    self.days = Self.daysFromCivil(y, m, d)
  }

  init(days: Int) { self.days = days }

  func adding(days: Int) -> CalendarDay { CalendarDay(days: self.days + days) }

  /// The last day of the month `months` before this day's month.
  func endOfMonth(monthsBefore months: Int) -> CalendarDay {
    let (y, m, _) = Self.civil(self.days)
    let index = y * 12 + (m - 1) - months
    let (year, month) = (index / 12, index % 12 + 1)
    return CalendarDay(days: Self.daysFromCivil(year, month, Self.monthLength(year, month)))
  }

  var text: String {
    let (y, m, d) = Self.civil(self.days)
    return "\(World.padded(y, 4))-\(World.padded(m, 2))-\(World.padded(d, 2))"
  }

  static func monthLength(_ y: Int, _ m: Int) -> Int {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
    return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
  }

  // Howard Hinnant's days_from_civil / civil_from_days.
  static func daysFromCivil(_ year: Int, _ m: Int, _ d: Int) -> Int {
    let y = m <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  static func civil(_ z0: Int) -> (Int, Int, Int) {
    let z = z0 + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
  }
}

/// SplitMix64: small, fast, and the same sequence on every platform.
struct SplitMix64 {
  private var state: UInt64

  init(seed: UInt64) { self.state = seed }

  mutating func next() -> UInt64 {
    self.state &+= 0x9E37_79B9_7F4A_7C15
    var z = self.state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in 0..<bound (bound > 0).
  mutating func next(below bound: UInt64) -> UInt64 { self.next() % bound }

  /// Uniform in [0, 1).
  mutating func unit() -> Double { Double(self.next() >> 11) / Double(1 << 53) }
}

/// Writes lines to a file through a 1 MiB buffer.
enum CSVFileWriter {
  static func write(path: String, _ body: ((String) -> Void) throws -> Void) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path)
    else { throw ValidationError("Cannot create \(path).") }
    defer { try? handle.close() }
    var buffer: [UInt8] = []
    buffer.reserveCapacity(1 << 20 + 4096)
    var failure: (any Error)?
    try body { line in
      buffer.append(contentsOf: line.utf8)
      buffer.append(UInt8(ascii: "\n"))
      if buffer.count >= 1 << 20 {
        do { try handle.write(contentsOf: buffer) } catch { failure = error }
        buffer.removeAll(keepingCapacity: true)
      }
    }
    if let failure { throw failure }
    try handle.write(contentsOf: buffer)
  }
}

@testable import Catalog
import Testing

@Suite("Stock snapshot rows: the source format's fields")
struct StockSnapshotParsingTests {
  let good = "2024-06-30|00123|22D1|Materia Prima|10|BQLF0120-1250|L00000001|45|Bobina|Laminado a Frio|12,345|SKU-1"

  @Test func aGoodLineBecomesCanonicalValues() throws {
    let row = try StockSnapshotParsing.parse(line: self.good[...])
    #expect(row.date == "2024-06-30" && row.clientCode == 123 && row.centre == "22D1")
    #expect(row.totalTonnes == "12.345" && row.daysInStock == 45 && row.sku == "SKU-1")
  }

  @Test func datesAreRealCalendarDaysInEitherFormat() {
    #expect(StockSnapshotParsing.date("2024-02-29") == "2024-02-29")
    #expect(StockSnapshotParsing.date("29/02/2024") == "2024-02-29")
    #expect(StockSnapshotParsing.date("2023-02-29") == nil)
    #expect(StockSnapshotParsing.date("2100-02-29") == nil)
    #expect(StockSnapshotParsing.date("2000-02-29") == "2000-02-29")
    for bad in ["2024-13-01", "2024-00-10", "2024-6-30", "24-06-30", "2024/06/30", "", "'; --", "2024-06-3１"] {
      #expect(StockSnapshotParsing.date(bad[...]) == nil, "\(bad)")
    }
  }

  @Test func tonnesAreDecimalsWithAtMostSixFractionDigits() {
    #expect(StockSnapshotParsing.tonnes("0") == "0")
    #expect(StockSnapshotParsing.tonnes("12,5") == "12.5")
    #expect(StockSnapshotParsing.tonnes("0.000001") == "0.000001")
    for bad in ["", "-1", "+1", "1e5", "NaN", "1.1234567", "1.", ".5", "1,000.5", "1 000", "1234567890123"] {
      #expect(StockSnapshotParsing.tonnes(bad[...]) == nil, "\(bad)")
    }
  }

  @Test func clientCodesArePositiveNumbers() {
    #expect(StockSnapshotParsing.clientCode("00042") == 42)
    for bad in ["0", "000", "-1", "12a", "", "1234567890123456789"] {
      #expect(StockSnapshotParsing.clientCode(bad[...]) == nil, "\(bad)")
    }
  }

  @Test func eachKindOfBadLineSaysWhichField() {
    func reason(_ line: String) -> String? {
      do {
        _ = try StockSnapshotParsing.parse(line: line[...])
        return nil
      } catch {
        return error.reason
      }
    }
    let fields = self.good.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
    func with(_ index: Int, _ value: String) -> String {
      var copy = fields
      copy[index] = value
      return copy.joined(separator: "|")
    }
    #expect(reason(self.good) == nil)
    #expect(reason(self.good + "|extra")?.contains("found 13") == true)
    #expect(reason(with(0, "30/02/2024"))?.hasPrefix("data") == true)
    #expect(reason(with(1, "abc"))?.hasPrefix("cod_cliente") == true)
    #expect(reason(with(2, "22 D1"))?.hasPrefix("es_centro") == true)
    #expect(reason(with(3, " "))?.hasPrefix("tipo_material") == true)
    #expect(reason(with(6, ""))?.hasPrefix("lote") == true)
    #expect(reason(with(7, "-1"))?.hasPrefix("dias_em_estoque") == true)
    #expect(reason(with(7, "ten"))?.hasPrefix("dias_em_estoque") == true)
    #expect(reason(with(10, "-2"))?.hasPrefix("es_totalestoque") == true)
    #expect(reason(with(11, String(repeating: "x", count: 65)))?.hasPrefix("SKU") == true)
    #expect(reason(with(8, "Bo\u{1}bina"))?.contains("control characters") == true)
    // SQL-looking text is ordinary text.
    #expect(reason(with(11, "'; DROP TABLE stock_snapshots; --")) == nil)
  }
}

@Suite("CSV lines from chunks split anywhere")
struct StockCSVLineReaderTests {
  @Test func linesAreTheSameWhateverTheChunkSize() throws {
    let file = Array("\u{FEFF}head\r\nα|β\n\nlast".utf8)
    for size in 1...file.count {
      var reader = StockCSVLineReader()
      var lines: [StockCSVLineReader.Line] = []
      var start = 0
      while start < file.count {
        lines += try reader.feed(Array(file[start..<min(start + size, file.count)]))
        start += size
      }
      if let last = try reader.finish() { lines.append(last) }
      #expect(lines.map(\.text) == ["head", "α|β", "", "last"], "chunk size \(size)")
      #expect(lines.map(\.number) == [1, 2, 3, 4])
    }
  }

  @Test func invalidUTF8IsReportedPerLine() throws {
    var reader = StockCSVLineReader()
    let lines = try reader.feed([0x61, 0x0A, 0xFF, 0xFE, 0x0A, 0x62, 0x0A])
    #expect(lines.map(\.text) == ["a", nil, "b"])
  }

  @Test func aLineLongerThanTheLimitStopsTheReader() {
    var reader = StockCSVLineReader()
    #expect(throws: StockCSVLineReader.LineTooLong(line: 2)) {
      _ = try reader.feed(Array("header\n".utf8) + [UInt8](repeating: 0x61, count: StockCSVLineReader.maximumLineBytes + 1))
    }
  }
}

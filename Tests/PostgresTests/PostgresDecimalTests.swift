import Postgres
import Testing

/// Parses at run time (`PostgresDecimal("1.5")` with a literal is a literal conversion that
/// traps on bad input, per SE-0213).
private func parse(_ text: String) -> PostgresDecimal? { PostgresDecimal(text) }

@Suite("PostgresDecimal")
struct PostgresDecimalTests {
  @Test(arguments: [
    "0", "1", "-1", "0.5", "-0.005", "12345678901234567890.123456789", "100", "1.50", "0.000",
    "9999.9999", "10000", "0.0001", "123456789012345678901234567890",
  ])
  func descriptionRoundTrips(_ text: String) throws {
    let value = try #require(PostgresDecimal(text))
    #expect(value.description == text)
  }

  @Test func normalizesInput() throws {
    #expect(parse("+007.10")?.description == "7.10")
    #expect(parse(".5")?.description == "0.5")
    #expect(parse("-0")?.description == "0")
    #expect(parse("1.5e3")?.description == "1500")
    #expect(parse("15e-4")?.description == "0.0015")
    for bad in ["", "-", "1.2.3", "abc", "1e", " 1", "1,5"] {
      #expect(PostgresDecimal(bad) == nil, "\(bad)")
    }
  }

  @Test func comparesNumerically() {
    let a: PostgresDecimal = "1.50"
    let b: PostgresDecimal = "1.5"
    #expect(a == b)
    #expect(a.hashValue == b.hashValue)
    #expect(parse("-2") ?? 0 < parse("-1.999") ?? 0)
    #expect(parse("0.09") ?? 0 < parse("0.1") ?? 0)
    #expect(parse("99") ?? 0 < parse("100") ?? 0)
    #expect(parse("-0.1") ?? 1 < 0)
    let sorted = ["3", "-1", "0.25", "-1.5", "0.3", "10"].compactMap(parse).sorted()
    #expect(sorted.map(\.description) == ["-1.5", "-1", "0.25", "0.3", "3", "10"])
  }

  @Test func convertsToMinorUnits() {
    #expect(parse("19.99")?.significand(atScale: 2) == 1999)
    #expect(parse("-0.5")?.significand(atScale: 2) == -50)
    #expect(parse("1.005")?.significand(atScale: 2) == nil)
    #expect(parse("99999999999999999999")?.significand(atScale: 0) == nil)
    #expect(PostgresDecimal(significand: 12345, scale: 2).description == "123.45")
    #expect(PostgresDecimal(significand: -5, scale: 3).description == "-0.005")
  }
}

import Foundation
import Postgres
import Testing

@Suite("Binding and decoding")
struct CodingTests {
  /// Binds `value`, selects it back and decodes it as the same type.
  static func roundTrip<T: PostgresCodable & Equatable>(
    _ value: T, on connection: PostgresConnection
  ) async throws -> T {
    let rows = try await connection.query("SELECT \(value) AS v")
    return try #require(rows.first).decode(column: 0, as: T.self)
  }

  @Test func scalarsRoundTrip() async throws {
    try await withTestConnection("scalars") { conn in
      #expect(try await Self.roundTrip(Int16.min, on: conn) == Int16.min)
      #expect(try await Self.roundTrip(Int32.max, on: conn) == Int32.max)
      #expect(try await Self.roundTrip(Int64.min, on: conn) == Int64.min)
      #expect(try await Self.roundTrip(Int(42), on: conn) == 42)
      #expect(try await Self.roundTrip(true, on: conn) == true)
      #expect(try await Self.roundTrip(false, on: conn) == false)
      #expect(try await Self.roundTrip(0.1 + 0.2, on: conn) == 0.1 + 0.2)
      #expect(try await Self.roundTrip(-Double.infinity, on: conn) == -.infinity)
      #expect(try await Self.roundTrip(Float(1.5), on: conn) == 1.5)
      #expect(try await Self.roundTrip("", on: conn) == "")
      #expect(try await Self.roundTrip("héllo wörld ✓ 🐘", on: conn) == "héllo wörld ✓ 🐘")
      let uuid = UUID()
      #expect(try await Self.roundTrip(uuid, on: conn) == uuid)
      let bytes: [UInt8] = [0, 1, 2, 0xFE, 0xFF, 0x5C, 0x27]
      #expect(try await Self.roundTrip(bytes, on: conn) == bytes)
      #expect(try await Self.roundTrip([UInt8](), on: conn) == [])
      let json = PostgresJSON(#"{"a": [1, 2.5, "x"], "b": null}"#)
      let decoded = try await Self.roundTrip(json, on: conn)
      #expect(decoded.text == #"{"a": [1, 2.5, "x"], "b": null}"#)  // jsonb normalizes spacing
    }
  }

  @Test func datesRoundTripAtMicrosecondPrecision() async throws {
    try await withTestConnection("dates") { conn in
      for micros: Int64 in [0, 1, 1_700_000_000_123_456, -1_000_000_000_000_001, 253_402_300_799_999_999] {
        let date = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
        #expect(try await Self.roundTrip(date, on: conn) == date, "\(micros)")
      }
      let now = Date()
      let back = try await Self.roundTrip(now, on: conn)
      #expect(abs(back.timeIntervalSince(now)) < 0.000_001)
      // Server-side values agree with the epoch arithmetic.
      let row = try #require(
        try await conn.query("SELECT '2024-02-29 12:34:56.789012+00'::timestamptz, '1999-12-31 23:59:59'::timestamp").first)
      let (tz, plain) = try row.decode((Date, Date).self)
      #expect(tz.timeIntervalSince1970 == 1_709_210_096.789012)
      #expect(plain.timeIntervalSince1970 == 946_684_799)
    }
  }

  @Test func numericIsExact() async throws {
    try await withTestConnection("numeric") { conn in
      let big = try #require(PostgresDecimal(String("12345678901234567890.123456789")))
      let back = try await Self.roundTrip(big, on: conn)
      #expect(back.description == "12345678901234567890.123456789")

      for text in ["0", "-0.000100", "1.50", "99999999999999999999999999.99", "-123.4567", "10000", "0.00001"] {
        let value = try #require(PostgresDecimal(text))
        // Sent as a parameter, compared and printed by the server, read back in binary.
        let row = try #require(try await conn.query("SELECT \(value), \(value)::text, \(value) = \(text)::numeric").first)
        let (decoded, serverText, equal) = try row.decode((PostgresDecimal, String, Bool).self)
        #expect(decoded.description == text)
        #expect(serverText == text)
        #expect(equal)
      }
      let sum = try #require(try await conn.query("SELECT 0.1::numeric + 0.2::numeric").first)
      #expect(try sum.decode(PostgresDecimal.self).description == "0.3")
      try await conn.query("CREATE TABLE prices (amount numeric(30, 9))")
      try await conn.query("INSERT INTO prices VALUES (\(big))")
      let stored = try #require(try await conn.query("SELECT amount FROM prices").first)
      #expect(try stored.decode(PostgresDecimal.self) == big)
    }
  }

  @Test func arraysRoundTrip() async throws {
    try await withTestConnection("arrays") { conn in
      #expect(try await Self.roundTrip(["a", "b,c", "\"quoted\"", "back\\slash", ""], on: conn) == ["a", "b,c", "\"quoted\"", "back\\slash", ""])
      #expect(try await Self.roundTrip([Int64.min, 0, Int64.max], on: conn) == [Int64.min, 0, Int64.max])
      #expect(try await Self.roundTrip([Int64](), on: conn) == [])
      let uuids = [UUID(), UUID()]
      #expect(try await Self.roundTrip(uuids, on: conn) == uuids)
      #expect(try await Self.roundTrip([1, nil, 3] as [Int32?], on: conn) == [1, nil, 3])
      #expect(try await Self.roundTrip([true, false], on: conn) == [true, false])

      let row = try #require(try await conn.query("SELECT ARRAY['x', NULL]::text[], '{}'::int8[], ARRAY[1.5, 2]::numeric[]").first)
      let (texts, empty, decimals) = try row.decode(([String?], [Int64], [PostgresDecimal]).self)
      #expect(texts == ["x", nil])
      #expect(empty.isEmpty)
      #expect(decimals.map(\.description) == ["1.5", "2"])
    }
  }

  @Test func nullsAndOptionals() async throws {
    try await withTestConnection("nulls") { conn in
      let none: String? = nil
      let some: Int64? = 7
      let row = try #require(try await conn.query("SELECT \(none) AS a, \(some) AS b, NULL::uuid AS c").first)
      let (a, b, c) = try row.decode((String?, Int64?, UUID?).self)
      #expect(a == nil)
      #expect(b == 7)
      #expect(c == nil)

      do {
        _ = try row.decode(column: "c", as: UUID.self)
        Issue.record("expected an unexpected-NULL error")
      } catch let error as PostgresError {
        #expect(error.code == .decoding)
        #expect(error.decodingContext?.columnName == "c")
        #expect(error.decodingContext?.reason.contains("NULL") == true)
      }
    }
  }

  @Test func typeMismatchNamesTheColumn() async throws {
    try await withTestConnection("mismatch") { conn in
      let row = try #require(try await conn.query("SELECT 'x' AS label, 12::int8 AS amount").first)
      do {
        _ = try row.decode((String, String).self)
        Issue.record("expected a decoding error")
      } catch let error as PostgresError {
        #expect(error.code == .decoding)
        let context = try #require(error.decodingContext)
        #expect(context.columnIndex == 1)
        #expect(context.columnName == "amount")
        #expect(context.swiftType == "Swift.String")
        #expect(context.dataType == .int8)
        #expect(context.dataType.oid == 20)
        #expect(context.reason.contains("type mismatch"))
        #expect(error.description.contains("amount"))
        #expect(error.description.contains("oid 20"))
      }
      // Narrowing is refused too; widening works.
      #expect(throws: PostgresError.self) { try row.decode(column: 1, as: Int32.self) }
      let widened = try #require(try await conn.query("SELECT 5::int2").first)
      #expect(try widened.decode(Int64.self) == 5)
      #expect(try widened[0, as: Int32.self] == 5)
      #expect(throws: PostgresError.self) { try widened.decode((Int64, Int64).self) }
    }
  }

  @Test func sqlLookingStringsAreStoredVerbatim() async throws {
    try await withTestConnection("injection") { conn in
      try await conn.query("CREATE TABLE notes (id int8 PRIMARY KEY, body text NOT NULL)")
      let hostile = "'; DROP TABLE notes; --"
      let weird = "$1 \\ \" ' \u{0007} -- /* */ ;"
      try await conn.query("INSERT INTO notes VALUES (\(Int64(1)), \(hostile)), (\(Int64(2)), \(weird))")
      let rows = try await conn.query("SELECT body FROM notes ORDER BY id").decode(String.self)
      #expect(rows == [hostile, weird])
      let found = try await conn.query("SELECT id FROM notes WHERE body = \(hostile)").decode(Int64.self)
      #expect(found == [1])
      // Identifiers are quoted, never spliced.
      let table = "notes\"; DROP TABLE notes; --"
      await #expect(throws: PostgresError.self) {
        try await conn.query("SELECT * FROM \(identifier: table)")
      }
      let count = try #require(try await conn.query("SELECT count(*) FROM notes").first)
      #expect(try count.decode(Int64.self) == 2)
    }
  }

  @Test func rowsReportCommandTagsAndColumns() async throws {
    try await withTestConnection("tags") { conn in
      try await conn.query("CREATE TABLE t (id int4, name text)")
      let insert = try await conn.query("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL)")
      #expect(insert.commandTag == "INSERT 0 3")
      #expect(insert.affectedRows == 3)
      let select = try await conn.query("SELECT id, name FROM t ORDER BY id")
      #expect(select.count == 3)
      #expect(select.columns.map(\.name) == ["id", "name"])
      #expect(select.columns.map(\.dataType) == [.int4, .text])
      let decoded = try select.decode((Int32, String?).self)
      #expect(decoded.map(\.0) == [1, 2, 3])
      #expect(decoded.map(\.1) == ["a", "b", nil])
      #expect(try select[1]["name", as: String.self] == "b")
    }
  }
}

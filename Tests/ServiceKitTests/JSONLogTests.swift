import Foundation
import Logging
import ServiceKit
import ServiceRuntime
import Synchronization
import Testing

@Suite("JSON log lines and JSON strings")
struct JSONLogTests {
  @Test func stringsAreEscapedExactlyWhereJSONRequires() throws {
    let text = "plain \"quoted\" back\\slash\nline\rret\ttab \u{1}\u{1f} é ✓ 🚀"
    let quoted = JSONText.quote(text)
    #expect(quoted == #""plain \"quoted\" back\\slash\nline\rret\ttab \u0001\u001f é ✓ 🚀""#)
    // What a JSON parser reads back is the original text.
    let parsed = try JSONSerialization.jsonObject(with: Data(quoted.utf8), options: .fragmentsAllowed) as? String
    #expect(parsed == text)
    #expect(JSONText.quote("") == #""""#)
  }

  @Test func anObjectKeepsItsKeyOrderAndWritesEveryKindOfValue() throws {
    let text = JSONText.object([
      ("name", .string("a \"b\"")), ("ok", .bool(true)), ("n", .int(-3)), ("price", .number("12.50")), ("gone", .null),
    ])
    #expect(text == #"{"name":"a \"b\"","ok":true,"n":-3,"price":12.50,"gone":null}"#)
    #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
  }

  @Test func aLogLineIsOneJSONObjectWithSortedMetadataAndAMillisecondTimestamp() throws {
    let lines = Mutex<[String]>([])
    var logger = Logger(label: "test") { label in
      JSONLogHandler(label: label, level: .info) { bytes in lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
    }
    logger[metadataKey: "service"] = "catalog"
    logger.info("access \"x\"", metadata: ["rpc.status": "OK", "bytes_in": "12", "service": "override", "n": .stringConvertible(7)])
    logger.debug("below the level")
    let written = lines.withLock { $0 }
    #expect(written.count == 1)
    let line = try #require(written.first)
    #expect(line.hasSuffix("}\n") && !line.dropLast().contains("\n"))
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
    #expect(object["level"] == "info" && object["logger"] == "test" && object["msg"] == "access \"x\"")
    #expect(object["service"] == "override" && object["n"] == "7" && object["bytes_in"] == "12")
    // Fixed keys first, then the metadata in key order.
    let keys = ["\"ts\"", "\"level\"", "\"logger\"", "\"msg\"", "\"bytes_in\"", "\"n\"", "\"rpc.status\"", "\"service\""]
    let positions = keys.map { line.range(of: $0)?.lowerBound }
    #expect(positions.allSatisfy { $0 != nil } && positions.map { $0! } == positions.map { $0! }.sorted())
    let timestamp = try #require(object["ts"])
    #expect(timestamp.count == 24 && timestamp.hasSuffix("Z"))
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let date = try #require(formatter.date(from: timestamp))
    #expect(abs(date.timeIntervalSinceNow) < 60)
  }
}

import Foundation
import ServiceKit
import Testing

/// The standard-library replacements servers use instead of Foundation give Foundation's results.
@Suite("Text helpers without Foundation")
struct FoundationFreeTextTests {
  @Test func trimmingWhitespaceTrimsExactlyFoundationsWhitespacesSet() {
    for value in 0...0x10FFFF {
      guard let scalar = Unicode.Scalar(value) else { continue }
      let text = "\(scalar)x\(scalar)"
      #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces), "U+\(String(value, radix: 16))")
    }
  }

  @Test(arguments: [
    "", " ", "\t", "  a b  ", "\ta\t", "\u{00A0}x\u{3000}", "\u{2003}\u{202F}y\u{205F}\u{1680}",
    "\n z \n", "\r\n", " \u{301}é ", "x\u{200B}", "\u{FEFF} w", " 👍🏽 ", "  \u{0085}v\u{2028}",
  ])
  func trimmingWhitespaceRemovesWhatFoundationsWhitespacesSetRemoves(_ text: String) {
    #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces))
    #expect(text[...].trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces))
  }

  @Test(arguments: [
    "{}", #"{"a": "b"}"#, #"{"colour": "red", "size": "L"}"#, #"{"k": "line\nbreak \"q\" \u00e9 é 👍"}"#,
    #"{"": ""}"#, #"{"a": "b", "c": "d", "e": "f"}"#,
  ])
  func stringMapReadsWhatJSONSerializationReads(_ json: String) throws {
    let object = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
    #expect(JSONText.stringMap(json) == object)
  }

  @Test func stringMapRoundTripsWhatTheWriterWrote() {
    let map = ["b": "two \"quoted\"", "a": "one\ttab", "é": "👍🏽", "ctl": "\u{01}"]
    #expect(JSONText.stringMap(JSONText.object(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })) == map)
  }

  @Test func stringMapGivesOtherScalarsAsTextAndNothingForNonObjects() {
    #expect(JSONText.stringMap(#"{"n": 12, "t": true, "f": false, "z": null, "s": "x"}"#)
      == ["n": "12", "t": "true", "f": "false", "z": "null", "s": "x"])
    #expect(JSONText.stringMap("[1, 2]") == [:])
    #expect(JSONText.stringMap("not json") == [:])
    #expect(JSONText.stringMap("") == [:])
  }
}

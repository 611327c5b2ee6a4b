#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension JSONText {
  /// The flat string map of a JSON object as ``object(_:)`` wrote it with string values (and
  /// PostgreSQL's `jsonb` gives it back); a value of another kind becomes its JSON text
  /// (`12`, `true`), and text that is not a JSON object gives an empty map. (A repeated key
  /// keeps its first value, where `JSONSerialization` kept the last; `jsonb` never repeats one.)
  public static func stringMap(_ json: String) -> [String: String] {
    if json == "{}" { return [:] }  // the common case: nothing to parse
    guard let map = try? JSONDecoder().decode([String: MapValue].self, from: Data(json.utf8)) else { return [:] }
    return map.mapValues(\.text)
  }

  /// One value of a string map, read back as text.
  private struct MapValue: Decodable {
    var text: String

    init(from decoder: any Decoder) throws {
      let value = try decoder.singleValueContainer()
      if let text = try? value.decode(String.self) {
        self.text = text
      } else if let flag = try? value.decode(Bool.self) {
        self.text = flag ? "true" : "false"
      } else if let number = try? value.decode(Int64.self) {
        self.text = String(number)
      } else if let number = try? value.decode(Double.self) {
        self.text = String(number)
      } else if value.decodeNil() {
        self.text = "null"
      } else {
        throw DecodingError.dataCorruptedError(in: value, debugDescription: "Nested values are not part of a string map.")
      }
    }
  }
}

/// Strings are bound as `text` (UTF-8; the connection pins client_encoding to UTF8). Decoding
/// accepts the textual types text, varchar, bpchar, name and unknown, plus json and jsonb (the
/// raw JSON text). Other types (numbers, enums, ...) need an explicit `::text` cast in SQL.
extension String: PostgresEncodable, PostgresDecodable {
  public static var postgresType: PostgresDataType { .text }
  public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self.utf8) }
  public func encodeText(into text: inout String) { text += self }
  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    switch cell.dataType {
    case .text, .varchar, .bpchar, .name, .unknown, .json:
      self = String(decoding: bytes, as: UTF8.self)
    case .jsonb:
      self = try PostgresJSON(from: cell).text
    default:
      throw cell.typeMismatch(expected: "text, varchar, bpchar, name, json or jsonb")
    }
  }
}

/// A JSON document stored as `jsonb`, kept as raw JSON text.
///
/// The text is not parsed here; the server validates it when the value is bound. Decoding
/// accepts json and jsonb columns. Use your JSON coder of choice on ``text`` / ``bytes``.
public struct PostgresJSON: Sendable, Hashable, CustomStringConvertible, PostgresEncodable, PostgresDecodable {
  /// The raw JSON text.
  public var text: String

  /// Wraps raw JSON text, for example `PostgresJSON(#"{"a": 1}"#)`.
  public init(_ rawJSON: String) {
    self.text = rawJSON
  }

  /// Wraps UTF-8 encoded JSON.
  public init(utf8 bytes: some Sequence<UInt8>) {
    self.text = String(decoding: Array(bytes), as: UTF8.self)
  }

  /// The UTF-8 bytes of the JSON text.
  public var bytes: [UInt8] { Array(self.text.utf8) }

  public var description: String { self.text }

  public static var postgresType: PostgresDataType { .jsonb }

  public func encode(into buffer: inout [UInt8]) {
    buffer.append(1)  // jsonb binary format version
    buffer.append(contentsOf: self.text.utf8)
  }

  public func encodeText(into text: inout String) { text += self.text }

  public init(from cell: PostgresCell) throws {
    let bytes = try cell.requireBytes()
    switch cell.dataType {
    case .json:
      self.text = String(decoding: bytes, as: UTF8.self)
    case .jsonb:
      guard bytes.first == 1 else {
        throw PostgresError.decoding("unsupported jsonb binary format version")
      }
      self.text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    default:
      throw cell.typeMismatch(expected: "json or jsonb")
    }
  }
}

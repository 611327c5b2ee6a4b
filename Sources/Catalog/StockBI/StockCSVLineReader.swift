/// Splits a CSV file arriving in chunks (split anywhere) into numbered lines.
///
/// Lines end at `\n`; a `\r` before it is dropped; the first line loses a UTF-8 byte order
/// mark. A line is at most ``maximumLineBytes`` long, so a file without line breaks cannot make
/// the server buffer it whole.
struct StockCSVLineReader {
  /// A line: its number (the first line is 1) and its text, or `nil` when it is not UTF-8.
  struct Line: Sendable, Equatable {
    var number: Int64
    var text: String?
  }

  static let maximumLineBytes = 64 * 1024

  struct LineTooLong: Error, Equatable {
    var line: Int64
  }

  private var pending: [UInt8] = []
  private var lineNumber: Int64 = 0

  /// The lines completed by `chunk`.
  mutating func feed(_ chunk: [UInt8]) throws(LineTooLong) -> [Line] {
    var lines: [Line] = []
    var start = chunk.startIndex
    while let end = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
      if self.pending.isEmpty {
        lines.append(try self.line(chunk[start..<end]))
      } else {
        self.pending.append(contentsOf: chunk[start..<end])
        let bytes = self.pending
        self.pending.removeAll(keepingCapacity: true)
        lines.append(try self.line(bytes[...]))
      }
      start = end + 1
    }
    self.pending.append(contentsOf: chunk[start...])
    if self.pending.count > Self.maximumLineBytes { throw LineTooLong(line: self.lineNumber + 1) }
    return lines
  }

  /// The last line when the file does not end with a line break.
  mutating func finish() throws(LineTooLong) -> Line? {
    guard !self.pending.isEmpty else { return nil }
    let bytes = self.pending
    self.pending = []
    return try self.line(bytes[...])
  }

  private mutating func line(_ raw: ArraySlice<UInt8>) throws(LineTooLong) -> Line {
    self.lineNumber += 1
    var bytes = raw
    if bytes.count > Self.maximumLineBytes { throw LineTooLong(line: self.lineNumber) }
    if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
    if self.lineNumber == 1 && bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
    return Line(number: self.lineNumber, text: String(validating: bytes, as: UTF8.self))
  }
}

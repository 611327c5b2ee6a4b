#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CatalogV1Protos
import RPCCore
import ServiceKit

/// Splits the chunks of a CSV upload into lines for a ``SnapshotEncoder``: checks the header
/// row, numbers the lines, keeps a line split across chunks until its end arrives.
struct StockCsvReader {
  static let maximumLineLength = 1 << 20
  private(set) var sawHeader = false
  private var pending: [UInt8] = []
  private var line: Int64 = 0

  /// Reads every complete line of `chunk`.
  mutating func feed(_ chunk: [UInt8], into encoder: inout SnapshotEncoder) throws {
    try chunk.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws in
      var start = 0
      if !self.pending.isEmpty {
        // Complete the line that the previous chunk began.
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
          self.pending.append(contentsOf: bytes)
          try self.checkPendingLength()
          return
        }
        self.pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<newline]))
        var line = self.pending
        self.pending = []
        try line.withUnsafeBytes { (whole: UnsafeRawBufferPointer) throws in
          try self.handle(whole, into: &encoder)
        }
        line.removeAll(keepingCapacity: true)
        self.pending = line
        start = newline + 1
      }
      while start < bytes.count {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
        guard let offset = rest.firstIndex(of: UInt8(ascii: "\n")) else {
          self.pending.append(contentsOf: rest)
          try self.checkPendingLength()
          return
        }
        try self.handle(UnsafeRawBufferPointer(rebasing: rest[0..<offset]), into: &encoder)
        start += offset + 1
      }
    }
  }

  /// Reads the last line when the file does not end with a line feed.
  mutating func finish(into encoder: inout SnapshotEncoder) throws {
    guard !self.pending.isEmpty else { return }
    let last = self.pending
    self.pending = []
    try last.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws in
      try self.handle(bytes, into: &encoder)
    }
  }

  private func checkPendingLength() throws {
    guard self.pending.count <= Self.maximumLineLength else {
      throw RPCError(code: .invalidArgument, message: "Line \(self.line + 1) is longer than 1 MiB.")
    }
  }

  private mutating func handle(_ bytes: UnsafeRawBufferPointer, into encoder: inout SnapshotEncoder) throws {
    self.line += 1
    guard self.sawHeader else {
      var text = String(decoding: bytes, as: UTF8.self)
      if text.hasSuffix("\r") { text.removeLast() }
      if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
      let header = text.split(separator: "|", omittingEmptySubsequences: false).map {
        $0.trimmingWhitespace()
      }
      guard header == SnapshotRow.csvHeader else {
        throw RPCError(
          code: .invalidArgument, message: "Line 1 must be the header \(SnapshotRow.csvHeader.joined(separator: "|")).")
      }
      self.sawHeader = true
      return
    }
    encoder.add(line: bytes, number: self.line)
  }
}

extension PostgresConnection {
  /// Bulk-loads rows with `COPY table (columns) FROM STDIN` (text format).
  ///
  /// `body` writes rows through the writer; they are escaped for COPY's text format and sent in
  /// large chunks. When `body` throws (or the task is cancelled) the COPY is aborted: no row is
  /// stored and the error is rethrown.
  ///
  /// ```swift
  /// let count = try await connection.copyFrom(table: "items", columns: ["id", "name", "price"]) { writer in
  ///   for item in items { try await writer.writeRow(item.id, item.name, item.price) }
  /// }
  /// ```
  ///
  /// - Parameters:
  ///   - table: the table name (quoted as an identifier).
  ///   - schema: the schema, or `nil` to resolve `table` through `search_path`.
  ///   - columns: the columns each row provides, in order (quoted as identifiers).
  ///   - format: COPY's text format (rows through ``PostgresCopyWriter/writeRow(_:)``, or
  ///     pre-encoded through ``PostgresCopyWriter/writeEncoded(_:)``) or its binary format (rows
  ///     only pre-encoded; the file header and trailer are written here).
  ///   - body: writes the rows.
  /// - Returns: the number of rows stored.
  @discardableResult
  public func copyFrom(
    table: String, schema: String? = nil, columns: [String], format: PostgresCopyFormat = .text,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresCopyWriter) async throws -> Void
  ) async throws -> Int {
    var target = quoteIdentifier(table)
    if let schema { target = quoteIdentifier(schema) + "." + target }
    let columnList = columns.map(quoteIdentifier).joined(separator: ", ")
    let options = format == .binary ? " WITH (FORMAT binary)" : ""
    let sql = "COPY \(target) (\(columnList)) FROM STDIN\(options)"
    try await self.run { libpq in try libpq.startCopyIn(sql) }

    let writer = PostgresCopyWriter(connection: self, columnCount: columns.count, format: format)
    do {
      if format == .binary { writer.appendBinaryHeader() }
      try await body(writer)
      if format == .binary { writer.appendBinaryTrailer() }
      try await writer.flush()
    } catch {
      // Not cancellable: the session must leave the COPY state whatever happens.
      do {
        _ = try await self.run(cancellable: false) { libpq in
          try libpq.endCopy(errorMessage: "COPY aborted by the client")
        }
      } catch {
        // Expected: the server answers the abort with an error (57014).
        self.logger.trace("COPY aborted", metadata: [LogKey.error: "\(error)"])
      }
      throw error
    }
    let result = try await self.run { libpq in try libpq.endCopy(errorMessage: nil) }
    return result.affectedRows ?? writer.rowCount
  }

  /// Bulk-loads `rows` (arrays of values matching `columns`) with COPY FROM STDIN.
  ///
  /// Convenience over ``copyFrom(table:schema:columns:format:isolation:_:)`` (text format).
  @discardableResult
  public func copyFrom(
    table: String, schema: String? = nil, columns: [String],
    rows: some Sequence<[any PostgresEncodable]>
  ) async throws -> Int {
    try await self.copyFrom(table: table, schema: schema, columns: columns) { writer in
      for row in rows { try await writer.writeRow(row) }
    }
  }
}

/// The data format of a COPY: PostgreSQL's text format (tab-separated, backslash escapes) or
/// its binary format (`PGCOPY` signature; per row a 16-bit field count, then per field a 32-bit
/// length and the type's binary `_send` representation, all big-endian).
public enum PostgresCopyFormat: Sendable, Hashable {
  case text
  case binary
}

/// Writes rows for ``PostgresConnection/copyFrom(table:schema:columns:format:isolation:_:)``.
///
/// Rows are buffered and sent in chunks of about 256 KiB. Use it only inside the `copyFrom`
/// closure.
public final class PostgresCopyWriter {
  private let connection: PostgresConnection
  private let columnCount: Int
  private let format: PostgresCopyFormat
  private var buffer: [UInt8] = []
  /// Rows written so far through ``writeRow(_:)`` (pre-encoded data is not counted).
  public private(set) var rowCount = 0

  static let chunkSize = 256 * 1024

  init(connection: PostgresConnection, columnCount: Int, format: PostgresCopyFormat = .text) {
    self.connection = connection
    self.columnCount = columnCount
    self.format = format
    self.buffer.reserveCapacity(Self.chunkSize + 4096)
  }

  /// The binary format's 19-byte header: signature, flags (no OIDs), no extension area.
  func appendBinaryHeader() {
    self.buffer.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])
    self.buffer.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])
  }

  /// The binary format's trailer: a field count of -1.
  func appendBinaryTrailer() {
    self.buffer.append(contentsOf: [0xFF, 0xFF])
  }

  /// Sends data already encoded in the COPY's format: whole rows (text format: escaped,
  /// tab-separated, each ending in a newline; binary format: field count, then each field's
  /// length and bytes). Large inputs go out without an extra copy into the buffer.
  ///
  /// - Important: nothing is checked here; malformed data makes the server fail the COPY.
  nonisolated(nonsending) public func writeEncoded(_ bytes: [UInt8]) async throws {
    if self.buffer.count + bytes.count < Self.chunkSize {
      self.buffer.append(contentsOf: bytes)
      return
    }
    try await self.flush()
    try Task.checkCancellation()
    try await self.connection.run(cancellable: false) { libpq in try libpq.putCopyData(bytes) }
  }

  /// Writes one row; values must match the COPY's columns in number and order. `nil`
  /// optionals are NULL.
  nonisolated(nonsending) public func writeRow<each Value: PostgresEncodable>(
    _ values: repeat each Value
  ) async throws {
    var count = 0
    for _ in repeat (each Value).self { count += 1 }
    try self.checkCount(count)
    var first = true
    for value in repeat each values {
      self.append(value, first: first)
      first = false
    }
    try await self.endRow()
  }

  /// Writes one row from an array of values.
  nonisolated(nonsending) public func writeRow(_ values: [any PostgresEncodable]) async throws {
    try self.checkCount(values.count)
    for (index, value) in values.enumerated() {
      self.append(value, first: index == 0)
    }
    try await self.endRow()
  }

  private func checkCount(_ count: Int) throws {
    guard self.format == .text else {
      throw PostgresError(code: .invalidArgument, message: "writeRow needs the text format; use writeEncoded")
    }
    guard count == self.columnCount else {
      throw PostgresError(
        code: .invalidArgument, message: "COPY row has \(count) values, expected \(self.columnCount)")
    }
  }

  private func append(_ value: some PostgresEncodable, first: Bool) {
    if !first { self.buffer.append(UInt8(ascii: "\t")) }
    if value.isPostgresNull {
      self.buffer.append(contentsOf: "\\N".utf8)
      return
    }
    var text = ""
    value.encodeText(into: &text)
    // COPY text format escapes: backslash, and the delimiter/row/carriage-return characters.
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\\"): self.buffer.append(contentsOf: "\\\\".utf8)
      case UInt8(ascii: "\t"): self.buffer.append(contentsOf: "\\t".utf8)
      case UInt8(ascii: "\n"): self.buffer.append(contentsOf: "\\n".utf8)
      case UInt8(ascii: "\r"): self.buffer.append(contentsOf: "\\r".utf8)
      default: self.buffer.append(byte)
      }
    }
  }

  nonisolated(nonsending) private func endRow() async throws {
    self.buffer.append(UInt8(ascii: "\n"))
    self.rowCount += 1
    if self.buffer.count >= Self.chunkSize {
      try await self.flush()
    }
  }

  /// Sends the buffered rows.
  nonisolated(nonsending) func flush() async throws {
    try Task.checkCancellation()
    guard !self.buffer.isEmpty else { return }
    let chunk = self.buffer
    self.buffer.removeAll(keepingCapacity: true)
    // Not cancellable: a chunk is either sent whole or the connection is broken.
    try await self.connection.run(cancellable: false) { libpq in try libpq.putCopyData(chunk) }
  }
}

extension PostgresConnection {
  /// Runs `queries` in pipeline mode: all are sent at once, followed by one sync, and their
  /// results read back — one network round trip for the whole batch.
  ///
  /// The batch is atomic (one implicit transaction) unless it contains its own
  /// BEGIN/COMMIT: if a statement fails, the statements after it are skipped, everything is
  /// rolled back and the first error is thrown.
  ///
  /// - Returns: one ``PostgresRows`` per query, in order.
  public func pipeline(_ queries: [PostgresQuery]) async throws -> [PostgresRows] {
    if queries.isEmpty { return [] }
    return try await self.run { libpq in try libpq.executePipeline(queries) }
  }
}

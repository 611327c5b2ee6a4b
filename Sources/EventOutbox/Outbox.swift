#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Postgres

/// The transactional outbox of a service: events written in the same transaction as the change
/// they describe, into the service's own `outbox` table, and streamed to consumers in order
/// from a cursor (at-least-once delivery; consumers remember the last cursor they handled).
///
/// A service creates the `outbox` table with a migration of its own (a copy of the catalog's
/// `Sources/CatalogSchema/migrations/0002_outbox.up.sql`), calls ``append(_:tenantID:on:)``
/// inside its write transactions, and serves `WatchEvents` with ``stream(tenantID:after:pool:send:)``.
public enum Outbox {
  /// One event.
  public struct Event: Sendable, Hashable {
    /// Increasing position in the outbox; the cursor after this event is its decimal text.
    public var position: Int64
    public var type: String
    /// A JSON object.
    public var payloadJSON: String
    public var createdAt: Date

    public var cursor: String { String(self.position) }
  }

  /// Writes an event on `connection`, which must be inside the transaction of the change.
  ///
  /// The tenant's outbox lock is taken first and held until the transaction ends, so positions
  /// are handed out in commit order within a tenant: a reader that sees position `p` has seen
  /// (or will never see, when rolled back) every smaller one, and resuming from a cursor never
  /// skips an event that committed late.
  public static func append(type: String, payloadJSON: String, tenantID: UUID, on connection: PostgresConnection)
    async throws
  {
    // The key is `hashtextextended('outbox:<tenant>', 0)`, PostgresRPC's `AdvisoryLock` scheme.
    try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("outbox:" + tenantID.uuidString), 0))")
    try await connection.query(
      "INSERT INTO outbox (tenant_id, type, payload) VALUES (\(tenantID), \(type), \(payloadJSON)::jsonb)")
  }

  /// A cursor that this outbox did not issue (answered as `INVALID_ARGUMENT`).
  public struct InvalidCursor: Error, Sendable, Hashable {
    /// The text the consumer sent.
    public var cursor: String

    public init(cursor: String) {
      self.cursor = cursor
    }
  }

  /// Parses a cursor a consumer sent back; empty means from the beginning.
  public static func position(cursor: String) throws(InvalidCursor) -> Int64 {
    if cursor.isEmpty { return 0 }
    guard let position = Int64(cursor), position >= 0 else { throw InvalidCursor(cursor: cursor) }
    return position
  }

  /// Sends `tenantID`'s events after `position` in order, then keeps polling for new ones
  /// (every `pollInterval`) until the task is cancelled. Events are read in pages of 500, so a
  /// consumer far behind catches up without the server holding its backlog in memory.
  public static func stream(
    tenantID: UUID, after position: Int64, pool: PostgresPool, pollInterval: Duration = .milliseconds(100),
    send: (Event) async throws -> Void
  ) async throws {
    var cursor = position
    while !Task.isCancelled {
      let rows = try await pool.query(
        """
        SELECT position, type, payload::text, created_at FROM outbox
        WHERE tenant_id = \(tenantID) AND position > \(cursor)
        ORDER BY position LIMIT 500
        """)
      for row in rows {
        let event = Event(
          position: try row.decode(column: 0, as: Int64.self), type: try row.decode(column: 1, as: String.self),
          payloadJSON: try row.decode(column: 2, as: String.self), createdAt: try row.decode(column: 3, as: Date.self))
        try await send(event)
        cursor = event.position
      }
      if rows.count < 500 {
        try await Task.sleep(for: pollInterval)
      }
    }
  }
}

public import Postgres

/// A transaction-scoped advisory lock: what a service serializes on that has no row to lock
/// (an order about to be reserved, a tenant's import, the tenant's audit chain).
///
/// One key scheme for every lock: the 64-bit key is
/// `hashtextextended(namespace || ':' || key, 0)`, so locks of different namespaces never share
/// a key unless the hash collides. The lock is held until the transaction ends (commit or
/// rollback); there is no unlock, and none is held across transactions, so changing a
/// namespace or the scheme needs no migration (processes of two versions running side by side
/// during a deploy would not exclude each other for that moment).
public struct AdvisoryLock: Sendable, Hashable {
  /// What kind of thing is locked, such as `reservation` or `outbox`.
  public var namespace: String
  /// Which one, such as a tenant id, or a tenant id and an order id joined by `:`.
  public var key: String

  public init(_ namespace: String, key: String) {
    self.namespace = namespace
    self.key = key
  }

  /// The text that is hashed into the lock's key.
  public var keyText: String { self.namespace + ":" + self.key }

  /// The statement that takes the lock, waiting for it.
  public var statement: PostgresQuery {
    "SELECT pg_advisory_xact_lock(hashtextextended(\(self.keyText), 0))"
  }
}

extension PostgresConnection {
  /// Takes `lock` for the rest of the current transaction, waiting while another holds it
  /// (one round trip). Call it only inside a transaction: outside one the lock ends with the
  /// statement.
  public func lock(_ lock: AdvisoryLock) async throws {
    try await self.query(lock.statement)
  }
}

public import Postgres
public import RPCCore

/// A service's database as its stores use it: the pool and the error mapping in one value.
///
/// Every store method runs its statements through one of three doors, so that every failure
/// leaves as a gRPC status (see ``DatabaseErrorMapping``):
///
/// - ``read(_:)``: statements on a pooled connection outside a transaction;
/// - ``write(isolationLevel:readOnly:policy:_:)``: a transaction, run again on a serialization
///   failure or a deadlock (see ``DatabaseErrorMapping/transaction(on:isolationLevel:readOnly:policy:isolation:_:)``);
/// - ``translating(_:)``: anything else (a prepared statement on the pool, say).
///
/// Inside a transaction, ``PostgresConnection/lock(_:)`` takes an ``AdvisoryLock``.
public struct Database: Sendable {
  public let pool: PostgresPool
  public let errors: DatabaseErrorMapping

  public init(pool: PostgresPool, errors: DatabaseErrorMapping) {
    self.pool = pool
    self.errors = errors
  }

  /// Runs `body` on a pooled connection, outside a transaction (each statement commits on
  /// its own); what it throws leaves as an `RPCError`.
  @discardableResult
  public func read<Result>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> Result
  ) async throws(RPCError) -> Result {
    try await self.errors.translatingErrors { try await self.pool.withConnection(body) }
  }

  /// Runs `body` in a transaction, retried on serialization failures and deadlocks; `body`
  /// may therefore run more than once and must not have effects outside the database.
  @discardableResult
  public func write<Result>(
    isolationLevel: PostgresIsolationLevel? = nil,
    readOnly: Bool = false,
    policy: TransactionRetryPolicy = .default,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> Result
  ) async throws(RPCError) -> Result {
    try await self.errors.transaction(
      on: self.pool, isolationLevel: isolationLevel, readOnly: readOnly, policy: policy, body)
  }

  /// Runs `body` (typically one statement on ``pool``) and maps what it throws to an `RPCError`.
  @discardableResult
  public func translating<Result>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
  ) async throws(RPCError) -> Result {
    try await self.errors.translatingErrors(body)
  }
}

public import Postgres
public import RPCCore

/// How often a transaction that lost a serialization conflict or a deadlock is run again.
public struct TransactionRetryPolicy: Sendable {
  /// Attempts in all, the first included.
  public var maximumAttempts: Int
  /// Delay before the second attempt; doubled for each further one, with full jitter.
  public var baseDelay: Duration

  public init(maximumAttempts: Int = 4, baseDelay: Duration = .milliseconds(5)) {
    self.maximumAttempts = max(1, maximumAttempts)
    self.baseDelay = baseDelay
  }

  public static let `default` = TransactionRetryPolicy()
}

extension DatabaseErrorMapping {
  /// Runs `body` and maps what it throws to an `RPCError`.
  @discardableResult
  public func translatingErrors<Result>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
  ) async throws(RPCError) -> Result {
    do {
      return try await body()
    } catch {
      throw self.rpcError(for: error)
    }
  }

  /// Runs `body` in a transaction on a connection of `pool`, running it again (from the
  /// start, on a fresh transaction) when it fails with a serialization failure or a deadlock,
  /// up to `policy.maximumAttempts`; then `ABORTED`. Every other failure is mapped at once.
  ///
  /// `body` may therefore run more than once: it must not have effects outside the database.
  @discardableResult
  public func transaction<Result>(
    on pool: PostgresPool,
    isolationLevel: PostgresIsolationLevel? = nil,
    readOnly: Bool = false,
    policy: TransactionRetryPolicy = .default,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> Result
  ) async throws(RPCError) -> Result {
    var attempt = 1
    while true {
      do {
        return try await pool.withTransaction(isolationLevel: isolationLevel, readOnly: readOnly, body)
      } catch let error as PostgresError where error.isRetryableTransactionFailure && attempt < policy.maximumAttempts {
        let ceiling = policy.baseDelay * (1 << (attempt - 1))
        let jitter = Double.random(in: 0...1)
        do {
          try await Task.sleep(for: ceiling * jitter)
        } catch {
          throw self.rpcError(for: error)
        }
        attempt += 1
      } catch {
        throw self.rpcError(for: error)
      }
    }
  }
}

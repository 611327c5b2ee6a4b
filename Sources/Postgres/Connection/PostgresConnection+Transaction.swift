/// Transaction isolation levels (`BEGIN ISOLATION LEVEL ...`).
public struct PostgresIsolationLevel: Sendable, Hashable, CustomStringConvertible {
  let sql: String
  public var description: String { self.sql }

  public static let readCommitted = PostgresIsolationLevel(sql: "READ COMMITTED")
  public static let repeatableRead = PostgresIsolationLevel(sql: "REPEATABLE READ")
  public static let serializable = PostgresIsolationLevel(sql: "SERIALIZABLE")
}

extension PostgresConnection {
  /// Runs `body` in a transaction: `BEGIN`, then `COMMIT` when `body` returns, or `ROLLBACK`
  /// when it throws (including `CancellationError`).
  ///
  /// The rollback runs even if the task is cancelled. If `body` swallowed a statement error
  /// and returned normally, the server turns `COMMIT` into a rollback; this is reported as
  /// ``PostgresError/Code-swift.struct/transactionAborted``.
  ///
  /// ```swift
  /// try await connection.withTransaction(isolationLevel: .serializable) { conn in
  ///   try await conn.query("UPDATE accounts SET balance = balance - \(amount) WHERE id = \(from)")
  ///   try await conn.query("UPDATE accounts SET balance = balance + \(amount) WHERE id = \(to)")
  /// }
  /// ```
  ///
  /// - Parameters:
  ///   - isolationLevel: `nil` uses the server's default (read committed).
  ///   - readOnly: start a `READ ONLY` transaction.
  ///   - body: the work; use only the connection it is given.
  /// - Returns: what `body` returns.
  /// - Throws: the error of `BEGIN`, of `body` (after rolling back) or of `COMMIT`.
  public func withTransaction<Result>(
    isolationLevel: PostgresIsolationLevel? = nil,
    readOnly: Bool = false,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> Result
  ) async throws -> Result {
    var begin = "BEGIN"
    if let isolationLevel { begin += " ISOLATION LEVEL \(isolationLevel.sql)" }
    if readOnly { begin += " READ ONLY" }
    _ = try await self.command(begin, cancellable: true)

    let result: Result
    do {
      result = try await body(self)
    } catch {
      await self.rollbackAfterFailure()
      throw error
    }

    let commit: PostgresRows
    do {
      // Not cancellable: a cancelled COMMIT would leave the outcome unknown to the caller.
      commit = try await self.command("COMMIT", cancellable: false)
    } catch {
      await self.rollbackAfterFailure()
      throw error
    }
    if commit.commandTag == "ROLLBACK" {
      throw PostgresError(
        code: .transactionAborted,
        message: "the transaction had failed; COMMIT rolled it back")
    }
    return result
  }

  /// `ROLLBACK`, not cancellable; a failure here means the session is broken, which the pool
  /// notices, so it is only logged.
  func rollbackAfterFailure() async {
    do {
      _ = try await self.command("ROLLBACK", cancellable: false)
    } catch {
      self.logger.debug("rollback failed", metadata: [LogKey.error: "\(error)"])
    }
  }
}

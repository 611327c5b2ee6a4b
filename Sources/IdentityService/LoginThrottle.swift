#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import Postgres
import PostgresRPC
import RPCCore

/// Throttles password guesses per account and per client address: after the limit of failures
/// within the window the key is locked for the lock duration, and further attempts answer
/// `RESOURCE_EXHAUSTED` with `retry-after-ms` in the trailers. A correct password clears the
/// account's count.
///
/// Every attempt is counted *before* its password is checked (``begin(_:)``, one atomic upsert
/// per key), as `pending`, and settled afterwards (``failed(_:)``, ``succeeded(_:clearing:)``,
/// ``release(_:)``). A key admits an attempt only while `failures + pending` is below its
/// limit, so concurrent guesses cannot outrun the count: at most `limit` guesses per key and
/// window are ever evaluated. An attempt that ends in an unexpected error stays counted until
/// its window ends (fail closed).
struct LoginThrottle {
  let context: IdentityContext

  /// A key to count an attempt against, with its limit.
  struct Key: Sendable {
    var name: String
    var limit: Int
  }

  /// An admitted attempt: the keys it was counted against and the window it was counted in
  /// (microseconds since the epoch of `window_start`), so that settling it never touches a
  /// later window's counts.
  struct Attempt: Sendable {
    fileprivate var counted: [(key: Key, window: Int64)]
  }

  /// The throttle key of an account: its tenant and lowercased email (for logins and for
  /// `SetPassword`'s current-password check alike, so that they share one budget).
  func accountKey(tenantID: UUID, email: String) -> Key {
    Key(
      name: "account:\(tenantID.uuidString.lowercased()):\(email.trimmingWhitespace().lowercased())",
      limit: self.context.settings.accountFailureLimit)
  }

  /// The throttle key of a client's IP address (`ClientAddress`: behind the gateway, the
  /// address the gateway saw).
  func clientKey(address: String) -> Key {
    Key(name: "client:\(address)", limit: self.context.settings.clientFailureLimit)
  }

  /// Counts an attempt against every key, all or none, in one transaction.
  ///
  /// - Throws: `RESOURCE_EXHAUSTED` (with `retry-after-ms`) when a key is locked or already has
  ///   its limit of failed and in-flight attempts in the current window.
  func begin(_ keys: [Key]) async throws(RPCError) -> Attempt {
    let fresh = Self.fresh(self.context.settings.failureWindow.seconds)
    return try await self.context.database.write { connection in
      var counted: [(key: Key, window: Int64)] = []
      for key in keys {
        let row = try await connection.query(
          """
          INSERT INTO login_failures AS f (key, failures, pending, window_start) VALUES (\(key.name), 0, 1, now())
          ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN \(unescaped: fresh) THEN 0 ELSE f.failures END,
            pending = CASE WHEN \(unescaped: fresh) THEN 1 ELSE f.pending + 1 END,
            window_start = CASE WHEN \(unescaped: fresh) THEN now() ELSE f.window_start END,
            locked_until = CASE WHEN \(unescaped: fresh) THEN NULL ELSE f.locked_until END
          WHERE \(unescaped: fresh)
             OR (f.locked_until IS NULL AND f.failures + f.pending < \(Int64(key.limit)))
          RETURNING (extract(epoch FROM window_start) * 1000000)::int8
          """
        ).first
        guard let row else {
          // Refused: nothing of this transaction is kept (the keys counted so far roll back).
          let remaining = try await connection.query(
            """
            SELECT (extract(epoch FROM locked_until - now()) * 1000)::int8 FROM login_failures
            WHERE key = \(key.name) AND locked_until > now()
            """
          ).first?.decode(Int64.self)
          throw Self.refusal(lockedForMilliseconds: remaining)
        }
        counted.append((key, try row.decode(Int64.self)))
      }
      return Attempt(counted: counted)
    }
  }

  /// The password was wrong: each key's attempt becomes a failure; a key that reaches its
  /// limit is locked.
  func failed(_ attempt: Attempt) async throws(RPCError) {
    let lock = self.context.settings.lockDuration.seconds
    try await self.context.database.write { connection in
      for (key, window) in attempt.counted {
        try await connection.query(
          """
          UPDATE login_failures SET pending = greatest(pending - 1, 0), failures = failures + 1,
            locked_until = CASE WHEN locked_until IS NULL AND failures + 1 >= \(Int64(key.limit))
                                THEN now() + make_interval(secs => \(lock)) ELSE locked_until END
          WHERE key = \(key.name) AND (extract(epoch FROM window_start) * 1000000)::int8 = \(window)
          """)
      }
    }
  }

  /// The password was right: the keys in `clearing` lose their failures and lock, the others
  /// only this attempt.
  func succeeded(_ attempt: Attempt, clearing: Set<String>) async throws(RPCError) {
    try await self.context.database.write { connection in
      for (key, window) in attempt.counted {
        let clear = clearing.contains(key.name)
        try await connection.query(
          """
          UPDATE login_failures SET
            pending = CASE WHEN (extract(epoch FROM window_start) * 1000000)::int8 = \(window)
                           THEN greatest(pending - 1, 0) ELSE pending END,
            failures = CASE WHEN \(clear) THEN 0 ELSE failures END,
            locked_until = CASE WHEN \(clear) THEN NULL ELSE locked_until END
          WHERE key = \(key.name)
          """)
        try await Self.deleteIfEmpty(key, on: connection)
      }
    }
  }

  /// The attempt neither failed nor succeeded (the password was right but the account cannot
  /// log in): it is uncounted.
  func release(_ attempt: Attempt) async throws(RPCError) {
    try await self.succeeded(attempt, clearing: [])
  }

  /// Runs `check` (which verifies a password) as an attempt counted against `keys`: refused
  /// when a key is exhausted; settled as a failure when `check` returns false or throws.
  func attempt(_ keys: [Key], _ check: () async throws -> Bool) async throws -> (attempt: Attempt, matches: Bool) {
    let counted = try await self.begin(keys)
    let matches: Bool
    do {
      matches = try await check()
    } catch {
      try? await self.failed(counted)
      throw error
    }
    if !matches { try await self.failed(counted) }
    return (counted, matches)
  }

  // MARK: helpers

  /// SQL that is true when the conflicting row `f` starts over: its lock has ended, or,
  /// unlocked, its window has.
  private static func fresh(_ windowSeconds: Double) -> String {
    let seconds = String(windowSeconds)  // a number, formatted here: safe to splice into SQL
    return """
      ((f.locked_until IS NULL AND f.window_start < now() - make_interval(secs => \(seconds))) OR f.locked_until <= now())
      """
  }

  private static func deleteIfEmpty(_ key: Key, on connection: PostgresConnection) async throws {
    try await connection.query(
      """
      DELETE FROM login_failures
      WHERE key = \(key.name) AND failures = 0 AND pending = 0 AND locked_until IS NULL
      """)
  }

  private static func refusal(lockedForMilliseconds remaining: Int64?) -> RPCError {
    var metadata = Metadata()
    if let remaining, remaining > 0 {
      metadata.add("retry-after-ms", String(remaining))
      return RPCError(
        code: .resourceExhausted,
        message: "Too many failed logins; try again in \(max(1, remaining / 1000)) seconds.", metadata: metadata)
    }
    // Not locked: the limit is taken by attempts still being checked.
    metadata.add("retry-after-ms", "1000")
    return RPCError(
      code: .resourceExhausted, message: "Too many login attempts at once; try again in a second.", metadata: metadata)
  }
}

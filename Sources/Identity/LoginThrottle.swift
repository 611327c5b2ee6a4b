import Foundation
import ServiceKit
import Postgres
import PostgresRPC
import RPCCore

/// Throttles repeated failed logins per account and per client address: after the limit within
/// the window the key is locked for the lock duration, and logins answer `RESOURCE_EXHAUSTED`
/// with `retry-after-ms` in the trailers. A successful login clears the account's count.
struct LoginThrottle {
  let context: IdentityContext

  func checkNotLocked(_ keys: [String]) async throws(RPCError) {
    let remaining = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT (extract(epoch FROM max(locked_until) - now()) * 1000)::int8 FROM login_failures
        WHERE key = ANY(\(keys)) AND locked_until > now()
        """
      ).first?.decode(column: 0, as: Int64?.self)
    }
    if let remaining, remaining > 0 {
      var metadata = Metadata()
      metadata.add("retry-after-ms", String(remaining))
      throw RPCError(
        code: .resourceExhausted,
        message: "Too many failed logins; try again in \(max(1, remaining / 1000)) seconds.", metadata: metadata)
    }
  }

  func recordFailure(accountKey: String, clientKey: String) async throws(RPCError) {
    let settings = self.context.settings
    let window = settings.failureWindow.seconds
    let lock = settings.lockDuration.seconds
    try await self.context.database.translatingErrors {
      for (key, limit) in [(accountKey, settings.accountFailureLimit), (clientKey, settings.clientFailureLimit)] {
        try await self.context.pool.query(
          """
          INSERT INTO login_failures AS f (key, failures, window_start) VALUES (\(key), 1, now())
          ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN f.window_start < now() - make_interval(secs => \(window)) THEN 1 ELSE f.failures + 1 END,
            window_start = CASE WHEN f.window_start < now() - make_interval(secs => \(window)) THEN now() ELSE f.window_start END,
            locked_until = CASE
              WHEN f.window_start >= now() - make_interval(secs => \(window)) AND f.failures + 1 >= \(Int64(limit))
              THEN now() + make_interval(secs => \(lock)) ELSE f.locked_until END
          """)
      }
    }
  }

  func clear(_ key: String) async throws(RPCError) {
    try await self.context.database.translatingErrors {
      try await self.context.pool.query("DELETE FROM login_failures WHERE key = \(key)")
    }
  }
}

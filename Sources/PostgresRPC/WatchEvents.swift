public import EventOutbox
public import RPCCore

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension Database {
  /// Serves a `WatchEvents` call: `tenantID`'s outbox events after `afterCursor` (empty: from
  /// the start), each turned into the service's event message by `message` and written to
  /// `response`, until the call ends.
  ///
  /// A cursor the outbox did not issue answers `INVALID_ARGUMENT`; the call's cancellation
  /// ends the stream normally; database failures leave as their statuses.
  public func watchEvents<Message: Sendable>(
    tenantID: UUID, afterCursor: String, pollInterval: Duration = .milliseconds(100),
    response: RPCWriter<Message>, message: (Outbox.Event) -> Message
  ) async throws(RPCError) {
    do {
      let position = try Outbox.position(cursor: afterCursor)
      try await Outbox.stream(tenantID: tenantID, after: position, pool: self.pool, pollInterval: pollInterval) { event in
        try await response.write(message(event))
      }
    } catch is CancellationError {
      return
    } catch {
      throw self.errors.rpcError(for: error)
    }
  }
}

/// A job a service runs beside its server for as long as it serves: a sweeper, a scheduler,
/// an outbox relay.
///
/// The host starts every worker once the server is ready and cancels them after the server has
/// drained, so `run` must return soon after its task is cancelled. A worker that throws stops
/// the whole service (exit status 1): catch and log what is worth retrying.
public struct BackgroundWorker: Sendable {
  /// A short name for logs, such as `reservation-sweeper`.
  public let name: String
  private let body: @Sendable () async throws -> Void

  public init(_ name: String, run body: @escaping @Sendable () async throws -> Void) {
    self.name = name
    self.body = body
  }

  /// Runs the job until its task is cancelled.
  public func run() async throws {
    try await self.body()
  }
}

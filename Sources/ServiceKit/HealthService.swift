public import GRPCHealthV1Protos
public import RPCCore
internal import Synchronization

/// The standard `grpc.health.v1.Health` service, served by every executable.
///
/// The empty service name `""` stands for the whole server. Other services set their own
/// status with ``setStatus(_:for:)``; `Check` answers `NOT_FOUND` for names never set, `Watch`
/// streams `SERVICE_UNKNOWN` for them until they are set.
public final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
  public typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  private struct State {
    var statuses: [String: ServingStatus] = ["": .serving]
    var watchers: [Int: (service: String, continuation: AsyncStream<ServingStatus>.Continuation)] = [:]
    var nextWatcher = 0
  }

  private let state = Mutex(State())

  public init() {}

  /// Sets the status of `service` (`""` for the whole server) and notifies watchers.
  public func setStatus(_ status: ServingStatus, for service: String = "") {
    let continuations = self.state.withLock { state in
      state.statuses[service] = status
      return state.watchers.values.filter { $0.service == service }.map(\.continuation)
    }
    for continuation in continuations { continuation.yield(status) }
  }

  /// Marks every known service, and the server, `NOT_SERVING` (used when shutting down).
  public func enterNotServing() {
    let services = self.state.withLock { Array($0.statuses.keys) }
    for service in services { self.setStatus(.notServing, for: service) }
  }

  public func check(
    request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthCheckResponse {
    guard let status = self.state.withLock({ $0.statuses[request.service] }) else {
      throw RPCError(code: .notFound, message: "Unknown service '\(request.service)'.")
    }
    var response = Grpc_Health_V1_HealthCheckResponse()
    response.status = status
    return response
  }

  public func list(
    request: Grpc_Health_V1_HealthListRequest, context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthListResponse {
    let statuses = self.state.withLock { $0.statuses }
    var response = Grpc_Health_V1_HealthListResponse()
    for (service, status) in statuses {
      var entry = Grpc_Health_V1_HealthCheckResponse()
      entry.status = status
      response.statuses[service] = entry
    }
    return response
  }

  public func watch(
    request: Grpc_Health_V1_HealthCheckRequest,
    response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
    context: ServerContext
  ) async throws {
    // Only the latest status matters to a watcher, so the buffer holds one value.
    let (updates, continuation) = AsyncStream.makeStream(
      of: ServingStatus.self, bufferingPolicy: .bufferingNewest(1))
    let id = self.state.withLock { state in
      let id = state.nextWatcher
      state.nextWatcher += 1
      state.watchers[id] = (request.service, continuation)
      continuation.yield(state.statuses[request.service] ?? .serviceUnknown)
      return id
    }
    defer { _ = self.state.withLock { $0.watchers.removeValue(forKey: id) } }
    var last: ServingStatus?
    for await status in updates {
      guard status != last else { continue }
      last = status
      var message = Grpc_Health_V1_HealthCheckResponse()
      message.status = status
      try await response.write(message)
    }
  }
}

import Auth
import PostgresRPC
import ServiceKit
public import CatalogV1Protos
public import RPCCore

/// `catalog.v1.Events`: the tenant's outbox as a resumable stream.
public struct EventsService: Catalog_V1_Events.SimpleServiceProtocol {
  let context: CatalogContext
  let pollInterval: Duration

  public init(context: CatalogContext, pollInterval: Duration = .milliseconds(100)) {
    self.context = context
    self.pollInterval = pollInterval
  }

  public func watchEvents(
    request: Catalog_V1_WatchEventsRequest, response: RPCWriter<Catalog_V1_Event>, context: ServerContext
  ) async throws {
    let tenantID = try context.requireCaller().tenantUUID
    try await self.context.database.watchEvents(
      tenantID: tenantID, afterCursor: request.afterCursor, pollInterval: self.pollInterval, response: response
    ) { event in
      var message = Catalog_V1_Event()
      message.cursor = event.cursor
      message.type = event.type
      message.payloadJson = event.payloadJSON
      message.createdAtMs = event.createdAt.unixMilliseconds
      return message
    }
  }
}

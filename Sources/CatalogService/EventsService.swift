import Auth
import EventOutbox
import Foundation
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
    let position = try Outbox.position(cursor: request.afterCursor)
    do {
      try await Outbox.stream(tenantID: tenantID, after: position, pool: self.context.pool, pollInterval: self.pollInterval) {
        event in
        var message = Catalog_V1_Event()
        message.cursor = event.cursor
        message.type = event.type
        message.payloadJson = event.payloadJSON
        message.createdAtMs = Int64((event.createdAt.timeIntervalSince1970 * 1000).rounded())
        try await response.write(message)
      }
    } catch is CancellationError {
      return
    } catch let error as RPCError {
      throw error
    } catch {
      throw self.context.database.rpcError(for: error)
    }
  }
}

import Auth
import Foundation
import ServiceKit
import Postgres
public import IdentityV1Protos
public import RPCCore

/// `identity.v1.Audit`: the tenant's audit log, for its admins.
public struct AuditService: Identity_V1_Audit.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  public func listAuditEvents(request: Identity_V1_ListAuditEventsRequest, context: ServerContext) async throws
    -> Identity_V1_ListAuditEventsResponse
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    guard request.pageSize >= 0 else { throw RPCError(code: .invalidArgument, message: "page_size must not be negative.") }
    let pageSize = Int64(request.pageSize == 0 ? 50 : min(Int(request.pageSize), 500))
    var before: Int64?
    if !request.pageToken.isEmpty {
      guard let sequence = Int64(request.pageToken), sequence > 0 else {
        throw RPCError(code: .invalidArgument, message: "page_token is not a token this service issued.")
      }
      before = sequence
    }
    let entityID: String? = request.entityId.isEmpty ? nil : request.entityId
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT seq, actor, action, entity, entity_id, before_json, after_json, at_us, hash FROM audit_events
        WHERE tenant_id = \(tenantID) AND (\(before)::int8 IS NULL OR seq < \(before)::int8)
          AND (\(entityID)::text IS NULL OR entity_id = \(entityID)::text)
        ORDER BY seq DESC LIMIT \(pageSize + 1)
        """)
    }
    var response = Identity_V1_ListAuditEventsResponse()
    for row in rows.prefix(Int(pageSize)) {
      var event = Identity_V1_AuditEvent()
      event.sequence = try row.decode(column: 0, as: Int64.self)
      event.actor = try row.decode(column: 1, as: String.self)
      event.action = try row.decode(column: 2, as: String.self)
      event.entity = try row.decode(column: 3, as: String.self)
      event.entityId = try row.decode(column: 4, as: String.self)
      event.beforeJson = try row.decode(column: 5, as: String.self)
      event.afterJson = try row.decode(column: 6, as: String.self)
      event.atMs = try row.decode(column: 7, as: Int64.self) / 1000
      event.hash = Digest.hex(try row.decode(column: 8, as: [UInt8].self))
      response.events.append(event)
    }
    if rows.count > Int(pageSize), let last = response.events.last {
      response.nextPageToken = String(last.sequence)
    }
    return response
  }

  public func verifyAuditChain(request: Identity_V1_VerifyAuditChainRequest, context: ServerContext) async throws
    -> Identity_V1_VerifyAuditChainResponse
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let result = try await self.context.database.translatingErrors {
      try await self.context.pool.withConnection { connection in
        try await AuditLog.verify(tenantID: tenantID, on: connection)
      }
    }
    var response = Identity_V1_VerifyAuditChainResponse()
    response.intact = result.intact
    response.eventsChecked = result.checked
    response.firstBrokenSequence = result.firstBrokenSequence
    response.problem = result.problem
    return response
  }
}

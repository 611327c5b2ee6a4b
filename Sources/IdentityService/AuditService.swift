import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import Postgres
import PostgresRPC
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
    let events = try await self.context.database.read { connection in
      try await AuditLog.events(before: before, entityID: entityID, limit: pageSize + 1, tenantID: tenantID, on: connection)
    }
    var response = Identity_V1_ListAuditEventsResponse()
    response.events = events.prefix(Int(pageSize)).map(\.message)
    if events.count > Int(pageSize), let last = response.events.last {
      response.nextPageToken = String(last.sequence)
    }
    return response
  }

  public func verifyAuditChain(request: Identity_V1_VerifyAuditChainRequest, context: ServerContext) async throws
    -> Identity_V1_VerifyAuditChainResponse
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let result = try await self.context.database.read { connection in
      try await AuditLog.verify(tenantID: tenantID, on: connection)
    }
    var response = Identity_V1_VerifyAuditChainResponse()
    response.intact = result.intact
    response.eventsChecked = result.checked
    response.firstBrokenSequence = result.firstBrokenSequence
    response.problem = result.problem
    return response
  }
}

import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import IdentityV1Protos
public import RPCCore
import ServiceKit

/// `identity.v1.Privacy`: exporting everything stored about a user, and anonymising them.
public struct PrivacyService: Identity_V1_Privacy.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  public func exportUserData(request: Identity_V1_ExportUserDataRequest, context: ServerContext) async throws
    -> Identity_V1_ExportUserDataResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    let userID = try parseID(request.userId, what: "user_id")
    guard let json = try await self.context.users.exportData(id: userID, tenantID: tenantID) else {
      throw RPCError(code: .notFound, message: "No user \(userID.uuidString.lowercased()) in this tenant.")
    }
    var response = Identity_V1_ExportUserDataResponse()
    response.json = json
    return response
  }

  public func anonymizeUser(request: Identity_V1_AnonymizeUserRequest, context: ServerContext) async throws
    -> Identity_V1_AnonymizeUserResponse
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let userID = try parseID(request.userId, what: "user_id")
    if userID.uuidString.lowercased() == caller.subject.lowercased() {
      throw RPCError(code: .failedPrecondition, message: "Admins cannot anonymise themselves.")
    }
    let scrambled = try await self.context.hashPassword(SecureRandom.token())
    let (user, redacted) = try await self.context.users.anonymize(
      userID, scrambledPasswordHash: scrambled, actor: caller.subject,
      actorIsPlatformOperator: caller.kind == .platformOperator, tenantID: tenantID)
    var response = Identity_V1_AnonymizeUserResponse()
    response.user = user.message
    response.auditEventsRedacted = Int64(redacted)
    return response
  }
}

import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
public import IdentityV1Protos
public import RPCCore
import ServiceKit

/// `identity.v1.ApiKeys`: keys for service accounts and scripts, bound to a tenant and a role.
///
/// A key is `gsk_` + 8 hex characters (its visible prefix) + `_` + 32 random bytes
/// (base64url): recognisable when leaked, stored only as SHA-256.
public struct ApiKeysService: Identity_V1_ApiKeys.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  public func createApiKey(request: Identity_V1_CreateApiKeyRequest, context: ServerContext) async throws
    -> Identity_V1_CreateApiKeyResponse
  {
    let caller = try context.requireCaller()
    // A key acts on behalf of the user who created it (its creator must stay active, and caps
    // its role), so only a user creates keys: a key made by a key would have no user behind it.
    guard caller.kind != .apiKey else {
      throw RPCError(code: .permissionDenied, message: "API keys are created by users, not by other API keys.")
    }
    let tenantID = try caller.tenantUUID
    let name = try requiredText(request.name, "name", maxCharacters: 200)
    guard let role = Role(message: request.role) else {
      throw RPCError(code: .invalidArgument, message: "role must be ROLE_VIEWER, ROLE_EDITOR or ROLE_ADMIN.")
    }
    guard role <= caller.role else { throw RPCError(code: .permissionDenied, message: "A key cannot have a higher role than its creator.") }
    guard (0...3650).contains(request.ttlDays) else { throw RPCError(code: .invalidArgument, message: "ttl_days must be in 0...3650.") }
    let creator = try parseID(caller.subject, what: "the caller's id")
    let prefix = "gsk_" + Digest.hex(SecureRandom.bytes(4))
    let secret = prefix + "_" + SecureRandom.token(byteCount: 32)
    let ttl: Double? = request.ttlDays == 0 ? nil : Double(request.ttlDays) * 86400
    let key = try await self.context.apiKeys.create(
      name: name, prefix: prefix, secret: secret, role: role, creator: creator, ttlSeconds: ttl, actor: caller.subject,
      tenantID: tenantID)
    var response = Identity_V1_CreateApiKeyResponse()
    response.key = key.message
    response.secret = secret
    return response
  }

  public func listApiKeys(request: Identity_V1_ListApiKeysRequest, context: ServerContext) async throws
    -> Identity_V1_ListApiKeysResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    var response = Identity_V1_ListApiKeysResponse()
    response.keys = try await self.context.apiKeys.list(tenantID: tenantID).map(\.message)
    return response
  }

  public func revokeApiKey(request: Identity_V1_RevokeApiKeyRequest, context: ServerContext) async throws
    -> Identity_V1_ApiKey
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let id = try parseID(request.id, what: "id")
    guard let key = try await self.context.apiKeys.revoke(id, actor: caller.subject, tenantID: tenantID) else {
      throw RPCError(code: .notFound, message: "No API key \(id.uuidString.lowercased()) in this tenant.")
    }
    return key.message
  }

  public func exchangeApiKey(request: Identity_V1_ExchangeApiKeyRequest, context _: ServerContext) async throws
    -> Identity_V1_ExchangeApiKeyResponse
  {
    let caller = try await ApiKeyVerifier(context: self.context).verify(bearer: request.apiKey)
    let access = try await self.context.issueAccessToken(
      subject: caller.subject, tenantID: caller.tenantID, role: caller.role, kind: .apiKey)
    var response = Identity_V1_ExchangeApiKeyResponse()
    response.accessToken = access.token
    response.accessTokenExpiresAtMs = access.expiresAtMilliseconds
    return response
  }
}

import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import RPCCore
import ServiceKit

/// Checks an API key against the stored hashes; records when it was last used.
///
/// A key acts on its creator's behalf: it is refused unless its creator is still active
/// (deactivated and anonymised users are not), and it acts with the lower of its own role and
/// its creator's current role, so a demoted creator's keys are demoted with them.
struct ApiKeyVerifier: BearerCredentialVerifier {
  let context: IdentityContext

  static func looksLikeKey(_ bearer: String) -> Bool { bearer.hasPrefix("gsk_") }

  func verify(bearer: String) async throws(RPCError) -> Caller {
    guard Self.looksLikeKey(bearer), bearer.utf8.count < 200 else {
      throw RPCError(code: .unauthenticated, message: "The API key is not valid.")
    }
    guard let key = try await ApiKeyStore(database: self.context.database).use(hash: Digest.sha256(bearer)) else {
      throw RPCError(
        code: .unauthenticated, message: "The API key is not valid, revoked or expired, or its creator is no longer active.")
    }
    return Caller(
      tenantID: key.tenantID.uuidString.lowercased(), subject: key.id.uuidString.lowercased(),
      role: min(key.role, key.creatorRole), kind: .apiKey)
  }
}

/// Identity's own credential check: API keys against the database, everything else as an
/// access token.
struct IdentityCredentialVerifier: BearerCredentialVerifier {
  let tokens: AccessTokenVerifier
  let apiKeys: ApiKeyVerifier

  func verify(bearer: String) async throws(RPCError) -> Caller {
    if ApiKeyVerifier.looksLikeKey(bearer) { return try await self.apiKeys.verify(bearer: bearer) }
    return try await self.tokens.verify(bearer: bearer)
  }
}

import Auth
import Foundation
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
    let hash = Digest.sha256(bearer)
    let row = try await self.context.database.read { connection in
      try await connection.query(
        """
        UPDATE api_keys k SET last_used_at = now()
        FROM users u
        WHERE k.key_hash = \(hash) AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
          AND u.id = k.created_by AND u.active
        RETURNING k.id, k.tenant_id, k.role, u.role
        """
      ).first
    }
    guard let row else {
      throw RPCError(
        code: .unauthenticated, message: "The API key is not valid, revoked or expired, or its creator is no longer active.")
    }
    do {
      let keyRole = Role(rawValue: try row.decode(column: 2, as: String.self)) ?? .viewer
      let creatorRole = Role(rawValue: try row.decode(column: 3, as: String.self)) ?? .viewer
      return Caller(
        tenantID: try row.decode(column: 1, as: UUID.self).uuidString.lowercased(),
        subject: try row.decode(column: 0, as: UUID.self).uuidString.lowercased(),
        role: min(keyRole, creatorRole), kind: .apiKey)
    } catch {
      throw self.context.database.errors.rpcError(for: error)
    }
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

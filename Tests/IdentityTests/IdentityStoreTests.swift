import Auth
import Foundation
@testable import IdentityService
import IdentitySchema
import Migrations
import Postgres
import PostgresTestSupport
import RPCCore
import Testing

/// Identity's stores called directly, without handlers or a caller, on a migrated schema.
@Suite("Identity stores on PostgreSQL")
struct IdentityStoreTests {
  func withIdentity(_ body: (IdentityContext, TenantStore.Created) async throws -> Void) async throws {
    try await withTestSchema("idstore") { configuration in
      let pool = PostgresPool(configuration: PostgresPool.Configuration(connection: configuration), logger: testLogger)
      var settings = IdentitySettings()
      settings.passwordCost = PasswordHash.Cost(operations: 1, memoryBytes: 8 << 20)
      let context = IdentityContext(pool: pool, settings: settings, logger: testLogger)
      do {
        let runner = try MigrationRunner(schema: configuration.searchPath![0], migrations: IdentityMigrations.all, logger: testLogger)
        _ = try await runner.migrate(using: pool)
        let created = try await TenantStore.create(
          name: "Acme", plan: "", configJSON: "", adminEmail: "admin@acme.test", adminFullName: "Admin",
          platformOperator: false, actor: "test", context: context)
        try await body(context, created)
      } catch {
        await pool.close()
        throw error
      }
      await pool.close()
    }
  }

  @Test func aRefreshTokenRotatesWhileFreshAndItsLaterReuseRevokesTheLogin() async throws {
    try await withIdentity { context, created in
      let sessions = context.sessions
      let login = try #require(try await sessions.userForLogin(tenantID: created.admin.tenantID, email: "admin@acme.test"))
      #expect(login.user == created.admin)
      #expect(PasswordHash.verify(created.password, against: login.passwordHash))
      #expect(try await sessions.userForLogin(tenantID: created.admin.tenantID, email: "nobody@acme.test") == nil)

      let first = RefreshToken.make()
      try await sessions.startSession(
        for: login.user, rehashedPassword: nil, refreshTokenHash: first.hash, lifetimeSeconds: 60)
      let second = RefreshToken.make()
      guard case .issued(let user) = try await sessions.rotate(
        presented: first.hash, next: second.hash, graceSeconds: 0, lifetimeSeconds: 60)
      else { Issue.record("the fresh token did not rotate"); return }
      #expect(user.id == created.admin.id)
      // Spent, and outside a grace of 0 s: treated as stolen, the whole login is revoked.
      guard case .reused = try await sessions.rotate(
        presented: first.hash, next: RefreshToken.make().hash, graceSeconds: 0, lifetimeSeconds: 60)
      else { Issue.record("reuse was not detected"); return }
      guard case .revoked = try await sessions.rotate(
        presented: second.hash, next: RefreshToken.make().hash, graceSeconds: 0, lifetimeSeconds: 60)
      else { Issue.record("the login's newer token was not revoked"); return }
      guard case .unknown = try await sessions.rotate(
        presented: RefreshToken.make().hash, next: RefreshToken.make().hash, graceSeconds: 0, lifetimeSeconds: 60)
      else { Issue.record("an unknown token was accepted"); return }
    }
  }

  @Test func anApiKeyIsUsableUntilRevokedAndActsWithItsRole() async throws {
    try await withIdentity { context, created in
      let tenantID = created.admin.tenantID
      let key = try await context.apiKeys.create(
        name: "ci", prefix: "gsk_00000000", secret: "gsk_00000000_secret", role: .editor, creator: created.admin.id,
        ttlSeconds: nil, actor: "test", tenantID: tenantID)
      #expect(key.role == .editor)
      #expect(key.revokedAt == nil)
      #expect(try await context.apiKeys.list(tenantID: tenantID).map(\.id) == [key.id])
      let used = try #require(try await context.apiKeys.use(hash: Digest.sha256("gsk_00000000_secret")))
      #expect(used.id == key.id && used.tenantID == tenantID && used.role == .editor && used.creatorRole == .admin)
      #expect(try await context.apiKeys.use(hash: Digest.sha256("gsk_00000000_other")) == nil)
      let revoked = try #require(try await context.apiKeys.revoke(key.id, actor: "test", tenantID: tenantID))
      #expect(revoked.revokedAt != nil)
      #expect(try await context.apiKeys.use(hash: Digest.sha256("gsk_00000000_secret")) == nil)
      #expect(try await context.apiKeys.revoke(UUID(), actor: "test", tenantID: tenantID) == nil)
    }
  }

  @Test func theAuditChainLockIsTheSharedSchemeAndTheChainStaysIntact() async throws {
    try await withIdentity { context, created in
      let tenantID = created.admin.tenantID
      try await context.database.write { connection in
        try await AuditLog.append(
          AuditLog.Entry(actor: "test", action: "touch", entity: "tenant", entityID: "x", before: "", after: "{}"),
          tenantID: tenantID, on: connection)
        try await context.pool.withConnection { other in
          let key = "audit:" + tenantID.uuidString
          let free = try await other.query("SELECT pg_try_advisory_xact_lock(hashtextextended(\(key), 0))")
          #expect(try free.first!.decode(Bool.self) == false)
        }
      }
      let verification = try await context.database.read { connection in
        try await AuditLog.verify(tenantID: tenantID, on: connection)
      }
      // Tenant creation, its admin, and the row above.
      #expect(verification.intact)
      #expect(verification.checked == 3)
      let events = try await context.database.read { connection in
        try await AuditLog.events(before: nil, entityID: nil, limit: 10, tenantID: tenantID, on: connection)
      }
      #expect(events.map(\.sequence) == [3, 2, 1])
      #expect(events.first?.entry.action == "touch")
    }
  }
}

import Auth
import DatabaseRuntime
import IdentitySchema
import IdentityService
import IdentityV1Protos
import Logging
import Migrations
import Postgres
import PostgresTestSupport
import RPCCore
import ServiceRuntime
import ServiceTesting
import Testing

/// The identity service over real HTTP/2 on loopback, called with the generated Swift clients,
/// on a fresh schema of the test cluster.
@Suite("identity over gRPC with the Swift client")
struct IdentityOverGRPCTests {
  struct Clients {
    let sessions: Identity_V1_Sessions.Client
    let users: Identity_V1_Users.Client
    let tenants: Identity_V1_Tenants.Client
    let privacy: Identity_V1_Privacy.Client
    let apiKeys: Identity_V1_ApiKeys.Client
    let audit: Identity_V1_Audit.Client
  }

  /// Identity started by ServiceTesting as the executable declares it, on a fresh schema, with
  /// a cheap password hash.
  func withIdentity(_ body: (IdentityContext, Clients) async throws -> Void) async throws {
    try await withService(named: "identity", migrations: IdentityMigrations.all) { host in
      var settings = IdentitySettings()
      settings.passwordCost = PasswordHash.Cost(operations: 1, memoryBytes: 8 << 20)
      let context = IdentityContext(pool: host.pool, settings: settings, logger: host.logger)
      try await context.prepare()
      return (
        context,
        HostedService(
          services: IdentityServer.services(context: context),
          interceptors: [try IdentityServer.authentication(context: context)])
      )
    } _: { service, context in
      let client = service.client
      let clients = Clients(
        sessions: .init(wrapping: client), users: .init(wrapping: client), tenants: .init(wrapping: client),
        privacy: .init(wrapping: client), apiKeys: .init(wrapping: client),
        audit: .init(wrapping: client))
      try await body(context, clients)
    }
  }

  func bearer(_ session: Identity_V1_Session) -> Metadata {
    var metadata = Metadata()
    metadata.add("authorization", "Bearer " + session.accessToken)
    return metadata
  }

  func login(_ clients: Clients, tenant: String, email: String, password: String) async throws -> Identity_V1_Session {
    var request = Identity_V1_LoginRequest()
    request.tenantId = tenant
    request.email = email
    request.password = password
    return try await clients.sessions.login(request)
  }

  func code(_ body: () async throws -> Void) async -> RPCError.Code? {
    await self.failure(body)?.code
  }

  func failure(_ body: () async throws -> Void) async -> RPCError? {
    do {
      try await body()
      return nil
    } catch {
      return error as? RPCError
    }
  }

  @Test func theLifecycleRolesAndErrorsHoldForASwiftClient() async throws {
    try await withIdentity { context, clients in
      let first = try await TenantStore.create(
        name: "Swift", plan: "", configJSON: "", adminEmail: "ops@swift.test", adminFullName: "", platformOperator: true,
        actor: "test", context: context)
      let admin = try await self.login(clients, tenant: first.tenant.id, email: "ops@swift.test", password: first.password)
      #expect(admin.user?.role == .admin)

      func create(_ email: String, _ role: Identity_V1_Role, by session: Identity_V1_Session) async throws -> Identity_V1_User {
        var request = Identity_V1_CreateUserRequest()
        request.email = email
        request.role = role
        request.password = "correct horse battery staple"
        return try await clients.users.createUser(request, metadata: self.bearer(session))
      }
      let editorUser = try await create("Editor@Swift.test", .editor, by: admin)
      #expect(await self.code { _ = try await create("editor@SWIFT.TEST", .viewer, by: admin) } == .alreadyExists)

      // The same email in another tenant is fine.
      var tenantRequest = Identity_V1_CreateTenantRequest()
      tenantRequest.name = "Other"
      tenantRequest.adminEmail = "editor@swift.test"
      let other = try await clients.tenants.createTenant(tenantRequest, metadata: self.bearer(admin))
      #expect(other.admin?.email == "editor@swift.test")

      // Wrong password and unknown email: one answer.
      var wrong: RPCError?
      var unknown: RPCError?
      do { _ = try await self.login(clients, tenant: first.tenant.id, email: "editor@swift.test", password: "nope nope nope") } catch let error as RPCError { wrong = error }
      do { _ = try await self.login(clients, tenant: first.tenant.id, email: "ghost@swift.test", password: "nope nope nope") } catch let error as RPCError { unknown = error }
      #expect(wrong?.code == .unauthenticated && wrong?.code == unknown?.code && wrong?.message == unknown?.message)

      // An editor cannot manage users; a viewer cannot write.
      let editor = try await self.login(clients, tenant: first.tenant.id, email: "editor@swift.test", password: "correct horse battery staple")
      #expect(editor.user?.id == editorUser.id)
      #expect(await self.code { _ = try await create("new@swift.test", .viewer, by: editor) } == .permissionDenied)
      _ = try await create("viewer@swift.test", .viewer, by: admin)
      let viewer = try await self.login(clients, tenant: first.tenant.id, email: "viewer@swift.test", password: "correct horse battery staple")
      var update = Identity_V1_UpdateUserRequest()
      var user = Identity_V1_User()
      user.id = editorUser.id
      user.fullName = "x"
      update.user = user
      update.updateMask = ["full_name"]
      #expect(await self.code { _ = try await clients.users.updateUser(update, metadata: self.bearer(viewer)) } == .permissionDenied)

      // Tampered and missing tokens.
      var tampered = viewer
      tampered.accessToken = String(viewer.accessToken.dropLast(3)) + "AAA"
      var get = Identity_V1_GetUserRequest()
      get.id = editorUser.id
      #expect(await self.code { _ = try await clients.users.getUser(get, metadata: self.bearer(tampered)) } == .unauthenticated)
      #expect(await self.code { _ = try await clients.users.getUser(get) } == .unauthenticated)
      #expect(try await clients.users.getUser(get, metadata: self.bearer(viewer)).email == "Editor@Swift.test")

      // Refresh rotates; the old token is then refused once the grace period is over.
      var refresh = Identity_V1_RefreshRequest()
      refresh.refreshToken = viewer.refreshToken
      let rotated = try await clients.sessions.refresh(refresh)
      #expect(rotated.refreshToken != viewer.refreshToken)
    }
  }

  /// The bootstrap tenant (with its platform operator) and a second, ordinary admin of it.
  func operatorAndAdmin(_ context: IdentityContext, _ clients: Clients) async throws
    -> (tenant: String, op: Identity_V1_Session, operatorPassword: String, admin: Identity_V1_Session)
  {
    let first = try await TenantStore.create(
      name: "Ops", plan: "", configJSON: "", adminEmail: "ops@ops.test", adminFullName: "", platformOperator: true,
      actor: "test", context: context)
    let op = try await self.login(clients, tenant: first.tenant.id, email: "ops@ops.test", password: first.password)
    var create = Identity_V1_CreateUserRequest()
    create.email = "admin@ops.test"
    create.role = .admin
    create.password = "correct horse battery staple"
    _ = try await clients.users.createUser(create, metadata: self.bearer(op))
    let admin = try await self.login(
      clients, tenant: first.tenant.id, email: "admin@ops.test", password: "correct horse battery staple")
    return (first.tenant.id, op, first.password, admin)
  }

  @Test func aTenantAdminCannotTakeOverOrDisableThePlatformOperator() async throws {
    try await withIdentity { context, clients in
      let (tenant, op, operatorPassword, admin) = try await self.operatorAndAdmin(context, clients)
      let operatorID = op.user!.id

      var reset = Identity_V1_SetPasswordRequest()
      reset.userId = operatorID
      reset.newPassword = "the admin owns you now"
      let refusedReset = await self.failure { _ = try await clients.users.setPassword(reset, metadata: self.bearer(admin)) }
      #expect(refusedReset?.code == .permissionDenied)
      #expect(refusedReset?.message.contains("platform operator") == true)
      #expect(await self.code { _ = try await self.login(clients, tenant: tenant, email: "ops@ops.test", password: "the admin owns you now") } == .unauthenticated)

      var demote = Identity_V1_UpdateUserRequest()
      var user = Identity_V1_User()
      user.id = operatorID
      user.role = .viewer
      demote.user = user
      demote.updateMask = ["role"]
      #expect(await self.code { _ = try await clients.users.updateUser(demote, metadata: self.bearer(admin)) } == .permissionDenied)

      var deactivate = Identity_V1_DeactivateUserRequest()
      deactivate.id = operatorID
      #expect(await self.code { _ = try await clients.users.deactivateUser(deactivate, metadata: self.bearer(admin)) } == .permissionDenied)

      var anonymize = Identity_V1_AnonymizeUserRequest()
      anonymize.userId = operatorID
      #expect(await self.code { _ = try await clients.privacy.anonymizeUser(anonymize, metadata: self.bearer(admin)) } == .permissionDenied)

      // The operator is untouched and still logs in as a platform operator, an admin.
      let again = try await self.login(clients, tenant: tenant, email: "ops@ops.test", password: operatorPassword)
      #expect(again.user?.role == .admin && again.user?.active == true && again.user?.email == "ops@ops.test")

      // Fields outside the protected set stay editable by admins, and the operator itself may
      // still manage the other admin.
      var rename = Identity_V1_UpdateUserRequest()
      var renamed = Identity_V1_User()
      renamed.id = operatorID
      renamed.fullName = "Operator"
      rename.user = renamed
      rename.updateMask = ["full_name"]
      #expect(try await clients.users.updateUser(rename, metadata: self.bearer(admin)).fullName == "Operator")
      var resetAdmin = Identity_V1_SetPasswordRequest()
      resetAdmin.userId = admin.user!.id
      resetAdmin.newPassword = "a fresh admin password"
      _ = try await clients.users.setPassword(resetAdmin, metadata: self.bearer(again))
      _ = try await self.login(clients, tenant: tenant, email: "admin@ops.test", password: "a fresh admin password")
    }
  }

  @Test func concurrentWrongPasswordsGetNoMoreGuessesThanTheLimit() async throws {
    try await withIdentity { context, clients in
      let (tenant, _, _, _) = try await self.operatorAndAdmin(context, clients)
      let limit = IdentitySettings().accountFailureLimit
      let codes = await withTaskGroup(of: RPCError.Code?.self) { group in
        for index in 0..<20 {
          group.addTask {
            await self.code {
              _ = try await self.login(clients, tenant: tenant, email: "admin@ops.test", password: "wrong guess number \(index)")
            }
          }
        }
        var codes: [RPCError.Code?] = []
        for await code in group { codes.append(code) }
        return codes
      }
      let guessed = codes.filter { $0 == .unauthenticated }.count
      let refused = codes.filter { $0 == .resourceExhausted }.count
      #expect(guessed <= limit, "\(guessed) guesses were evaluated; the limit is \(limit)")
      #expect(guessed >= 1 && guessed + refused == 20, "\(codes)")
      // And the account is locked afterwards, the right password included.
      let locked = await self.failure {
        _ = try await self.login(clients, tenant: tenant, email: "admin@ops.test", password: "correct horse battery staple")
      }
      #expect(locked?.code == .resourceExhausted)
      #expect(Int(locked?.metadata.firstString("retry-after-ms") ?? "") ?? 0 > 0)
    }
  }

  @Test func wrongCurrentPasswordsInSetPasswordAreThrottledLikeLogins() async throws {
    try await withIdentity { context, clients in
      let (tenant, _, _, admin) = try await self.operatorAndAdmin(context, clients)
      let limit = IdentitySettings().accountFailureLimit
      var change = Identity_V1_SetPasswordRequest()
      change.newPassword = "a brand new password"
      for index in 0..<limit {
        change.currentPassword = "wrong guess number \(index)"
        #expect(await self.code { _ = try await clients.users.setPassword(change, metadata: self.bearer(admin)) } == .permissionDenied)
      }
      // The next attempt is refused before the password is checked, the right one included...
      change.currentPassword = "correct horse battery staple"
      let refused = await self.failure { _ = try await clients.users.setPassword(change, metadata: self.bearer(admin)) }
      #expect(refused?.code == .resourceExhausted)
      #expect(Int(refused?.metadata.firstString("retry-after-ms") ?? "") ?? 0 > 0)
      // ...and logins to the account share the lock.
      #expect(await self.code {
        _ = try await self.login(clients, tenant: tenant, email: "admin@ops.test", password: "correct horse battery staple")
      } == .resourceExhausted)

      // Concurrent wrong guesses get no more than the limit either (a fresh account).
      let (_, _, _, other) = try await self.operatorAndAdmin(context, clients)
      let codes = await withTaskGroup(of: RPCError.Code?.self) { group in
        for index in 0..<20 {
          group.addTask {
            var guess = Identity_V1_SetPasswordRequest()
            guess.newPassword = "a brand new password"
            guess.currentPassword = "wrong guess number \(index)"
            return await self.code { _ = try await clients.users.setPassword(guess, metadata: self.bearer(other)) }
          }
        }
        var codes: [RPCError.Code?] = []
        for await code in group { codes.append(code) }
        return codes
      }
      #expect(codes.filter { $0 == .permissionDenied }.count <= limit, "\(codes)")
      #expect(codes.filter { $0 == .resourceExhausted }.count >= 20 - limit, "\(codes)")
    }
  }

  /// A key is a delegation of its creator's authority: it stops working when the creator is
  /// deactivated or anonymised, and never acts above the creator's current role.
  @Test func anApiKeyNeverOutlivesOrOutranksItsCreator() async throws {
    try await withIdentity { context, clients in
      let (tenant, op, _, admin) = try await self.operatorAndAdmin(context, clients)
      let adminID = admin.user!.id
      let verifier = context.accessTokenVerifier()

      func createKey(_ role: Identity_V1_Role, by session: Identity_V1_Session) async throws -> Identity_V1_CreateApiKeyResponse {
        var request = Identity_V1_CreateApiKeyRequest()
        request.name = "key of \(session.user!.email)"
        request.role = role
        return try await clients.apiKeys.createApiKey(request, metadata: self.bearer(session))
      }
      func exchange(_ secret: String) async throws -> Identity_V1_Session {
        var request = Identity_V1_ExchangeApiKeyRequest()
        request.apiKey = secret
        var session = Identity_V1_Session()
        session.accessToken = try await clients.apiKeys.exchangeApiKey(request).accessToken
        return session
      }
      var count = 0
      func createUser(by session: Identity_V1_Session) async throws {
        count += 1
        var request = Identity_V1_CreateUserRequest()
        request.email = "made.by.key.\(count)@ops.test"
        request.role = .admin
        request.password = "correct horse battery staple"
        _ = try await clients.users.createUser(request, metadata: self.bearer(session))
      }
      func setRole(_ role: Identity_V1_Role, of id: String) async throws {
        var update = Identity_V1_UpdateUserRequest()
        var user = Identity_V1_User()
        user.id = id
        user.role = role
        update.user = user
        update.updateMask = ["role"]
        _ = try await clients.users.updateUser(update, metadata: self.bearer(op))
      }
      let key = try await createKey(.admin, by: admin)
      var keyBearer = Identity_V1_Session()
      keyBearer.accessToken = key.secret

      // While the creator is an admin, so is the key (exchanged and used directly).
      let before = try await exchange(key.secret)
      #expect(try await verifier.verify(bearer: before.accessToken).role == .admin)
      try await createUser(by: before)
      try await createUser(by: keyBearer)

      // Demoted to viewer: the key yields at most a viewer token, and cannot manage users.
      try await setRole(.viewer, of: adminID)
      let demoted = try await exchange(key.secret)
      #expect(try await verifier.verify(bearer: demoted.accessToken).role == .viewer)
      #expect(await self.code { try await createUser(by: demoted) } == .permissionDenied)
      #expect(await self.code { try await createUser(by: keyBearer) } == .permissionDenied)
      #expect(try await clients.tenants.getTenant(Identity_V1_GetTenantRequest(), metadata: self.bearer(keyBearer)).id == tenant)
      // Promoted back, the key is worth its own role again.
      try await setRole(.admin, of: adminID)
      #expect(try await verifier.verify(bearer: try await exchange(key.secret).accessToken).role == .admin)

      // Deactivated: the key is refused (exchanged or direct) and shows as revoked.
      var deactivate = Identity_V1_DeactivateUserRequest()
      deactivate.id = adminID
      _ = try await clients.users.deactivateUser(deactivate, metadata: self.bearer(op))
      #expect(await self.code { _ = try await exchange(key.secret) } == .unauthenticated)
      #expect(await self.code { try await createUser(by: keyBearer) } == .unauthenticated)
      let listed = try await clients.apiKeys.listApiKeys(Identity_V1_ListApiKeysRequest(), metadata: self.bearer(op)).keys
      #expect(listed.first { $0.id == key.key?.id }?.revokedAtMs ?? 0 > 0)

      // Anonymised (another admin): the same.
      var second = Identity_V1_CreateUserRequest()
      second.email = "second.admin@ops.test"
      second.role = .admin
      second.password = "correct horse battery staple"
      let secondUser = try await clients.users.createUser(second, metadata: self.bearer(op))
      let secondAdmin = try await self.login(clients, tenant: tenant, email: "second.admin@ops.test", password: "correct horse battery staple")
      let secondKey = try await createKey(.editor, by: secondAdmin)
      _ = try await exchange(secondKey.secret)
      var anonymize = Identity_V1_AnonymizeUserRequest()
      anonymize.userId = secondUser.id
      _ = try await clients.privacy.anonymizeUser(anonymize, metadata: self.bearer(op))
      #expect(await self.code { _ = try await exchange(secondKey.secret) } == .unauthenticated)

      // The operator's own keys are unaffected, and the audit chain stays intact.
      let opKey = try await createKey(.admin, by: op)
      try await createUser(by: try await exchange(opKey.secret))
      #expect(try await clients.audit.verifyAuditChain(Identity_V1_VerifyAuditChainRequest(), metadata: self.bearer(op)).intact)
    }
  }
}

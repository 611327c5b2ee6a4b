import Auth
import Identity
import Logging
import Migrations
import Postgres
import PostgresTestSupport
import Protos
import RPCCore
import RPCHTTP2
import ServiceKit
import Testing

/// The identity service over real HTTP/2 on loopback, called with the generated Swift clients,
/// on a fresh schema of the test cluster.
@Suite("identity over gRPC with the Swift client")
struct IdentityOverGRPCTests {
  struct Clients {
    let sessions: Identity_V1_Sessions.Client
    let users: Identity_V1_Users.Client
    let tenants: Identity_V1_Tenants.Client
  }

  func withIdentity(_ body: (IdentityContext, Clients) async throws -> Void) async throws {
    try await withTestSchema("identity") { configuration in
      let pool = PostgresPool(configuration: PostgresPool.Configuration(connection: configuration), logger: testLogger)
      var settings = IdentitySettings()
      settings.passwordCost = PasswordHash.Cost(operations: 1, memoryBytes: 8 << 20)
      let context = IdentityContext(pool: pool, settings: settings, logger: testLogger)
      let server = GRPCServer(
        configuration: GRPCServer.Configuration(threads: 1), services: IdentityServer.services(context: context),
        interceptors: [IdentityServer.authentication(context: context)])
      let transport: HTTP2ClientTransport
      do {
        let runner = try MigrationRunner(schema: configuration.searchPath![0], migrations: IdentityMigrations.all, logger: testLogger)
        _ = try await runner.migrate(using: pool)
        try await context.prepare()
        let address = try await server.start()
        transport = HTTP2ClientTransport(host: "127.0.0.1", port: address.port!)
      } catch {
        await server.shutDown()
        await pool.close()
        throw error
      }
      let client = RPCClient(transport: transport)
      let clients = Clients(
        sessions: .init(wrapping: client), users: .init(wrapping: client), tenants: .init(wrapping: client))
      do {
        try await body(context, clients)
      } catch {
        await transport.close()
        await server.shutDown()
        await pool.close()
        throw error
      }
      await transport.close()
      await server.shutDown()
      await pool.close()
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
    do {
      try await body()
      return nil
    } catch {
      return (error as? RPCError)?.code
    }
  }

  @Test func theLifecycleRolesAndErrorsHoldForASwiftClient() async throws {
    try await withIdentity { context, clients in
      let first = try await TenantWrites.create(
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
}

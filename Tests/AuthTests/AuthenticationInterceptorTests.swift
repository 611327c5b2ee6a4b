import Auth
import GRPCHealthV1Protos
import GRPCTestingProtos
import RPCCore
import RPCHTTP2
import ServiceKit
import Testing

/// Answers with the caller it sees: subject in `username`, `tenant/role/kind` in `oauth_scope`.
struct WhoAmIService: RegistrableRPCService {
  static let read = MethodDescriptor(service: "auth.test.Probe", method: "Read", access: .role(.viewer))
  static let write = MethodDescriptor(service: "auth.test.Probe", method: "Write", access: .role(.editor))
  static let manage = MethodDescriptor(service: "auth.test.Probe", method: "Manage", access: .role(.admin))
  static let open = MethodDescriptor(service: "auth.test.Probe", method: "Open", access: .public)

  func registerMethods(with router: inout RPCRouter) {
    for descriptor in [Self.read, Self.write, Self.manage, Self.open] {
      router.registerUnary(descriptor, input: Grpc_Testing_SimpleRequest.self, output: Grpc_Testing_SimpleResponse.self) {
        _, context in
        var response = Grpc_Testing_SimpleResponse()
        if let caller = context.caller {
          response.username = caller.subject
          response.oauthScope = "\(caller.tenantID)/\(caller.role.rawValue)/\(caller.kind.rawValue)"
        }
        return ServerResponse(message: response)
      }
    }
  }
}

@Suite("Authentication over HTTP/2")
struct AuthenticationInterceptorTests {
  let key = Ed25519SigningKey()

  var verifier: AccessTokenVerifier {
    AccessTokenVerifier(keys: StaticVerificationKeys(["k1": self.key.publicKey]), issuer: "identity")
  }

  var interceptor: AuthenticationInterceptor {
    get throws { try AuthenticationInterceptor(verifier: self.verifier, services: [WhoAmIService(), HealthService()]) }
  }

  func token(role: Role, issuer: String = "identity", expiresIn: Int64 = 300) -> String {
    let now = UnixTime.seconds()
    return AccessToken.sign(
      AccessTokenClaims(
        issuer: issuer, subject: "u-\(role.rawValue)", tenantID: "t1", role: role, issuedAt: now,
        expiresAt: now + expiresIn, tokenID: "j"),
      keyID: "k1", key: self.key)
  }

  func call(_ client: RPCClient, _ method: MethodDescriptor, _ authorization: String?) async throws -> Grpc_Testing_SimpleResponse {
    var metadata: Metadata = [:]
    if let authorization { metadata.add("authorization", authorization) }
    let response: ClientResponse<Grpc_Testing_SimpleResponse> = try await client.unary(
      request: ClientRequest(message: Grpc_Testing_SimpleRequest(), metadata: metadata), descriptor: method)
    return response.message
  }

  func expectCode(_ code: RPCError.Code, _ body: () async throws -> Void) async {
    do {
      try await body()
      Issue.record("expected \(code)")
    } catch let error as RPCError {
      #expect(error.code == code, "\(error)")
    } catch {
      Issue.record("unexpected \(error)")
    }
  }

  @Test func eachRoleReachesExactlyTheMethodsItsRankAllows() async throws {
    try await withLoopbackAuthServer { client in
      for role in Role.allCases {
        let bearer = "Bearer \(self.token(role: role))"
        let response = try await self.call(client, WhoAmIService.read, bearer)
        #expect(response.username == "u-\(role.rawValue)")
        #expect(response.oauthScope == "t1/\(role.rawValue)/user")
        if role >= .editor {
          _ = try await self.call(client, WhoAmIService.write, bearer)
        } else {
          await self.expectCode(.permissionDenied) { _ = try await self.call(client, WhoAmIService.write, bearer) }
        }
        if role == .admin {
          _ = try await self.call(client, WhoAmIService.manage, bearer)
        } else {
          await self.expectCode(.permissionDenied) { _ = try await self.call(client, WhoAmIService.manage, bearer) }
        }
      }
    }
  }

  @Test func missingMalformedExpiredAndForeignTokensAreUnauthenticated() async throws {
    try await withLoopbackAuthServer { client in
      await self.expectCode(.unauthenticated) { _ = try await self.call(client, WhoAmIService.read, nil) }
      await self.expectCode(.unauthenticated) { _ = try await self.call(client, WhoAmIService.read, "Basic abc") }
      await self.expectCode(.unauthenticated) { _ = try await self.call(client, WhoAmIService.read, "Bearer") }
      await self.expectCode(.unauthenticated) { _ = try await self.call(client, WhoAmIService.read, "Bearerx.y.z") }
      await self.expectCode(.unauthenticated) { _ = try await self.call(client, WhoAmIService.read, "Beaver \(self.token(role: .viewer))") }
      await self.expectCode(.unauthenticated) { _ = try await self.call(client, WhoAmIService.read, "Bearer x.y.z") }
      await self.expectCode(.unauthenticated) {
        _ = try await self.call(client, WhoAmIService.read, "Bearer \(self.token(role: .admin, expiresIn: -120))")
      }
      await self.expectCode(.unauthenticated) {
        _ = try await self.call(client, WhoAmIService.read, "Bearer \(self.token(role: .admin, issuer: "elsewhere"))")
      }
      // The server keeps serving after the refusals.
      _ = try await self.call(client, WhoAmIService.read, "bearer \(self.token(role: .viewer))")
      _ = try await self.call(client, WhoAmIService.read, "BEARER   \(self.token(role: .viewer))")
    }
  }

  @Test func publicMethodsAndHealthNeedNoTokenButAnySentTokenMustBeValid() async throws {
    try await withLoopbackAuthServer { client in
      let anonymous = try await self.call(client, WhoAmIService.open, nil)
      #expect(anonymous.username.isEmpty)
      let known = try await self.call(client, WhoAmIService.open, "Bearer \(self.token(role: .viewer))")
      #expect(known.username == "u-viewer")
      await self.expectCode(.unauthenticated) { _ = try await self.call(client, WhoAmIService.open, "Bearer nope") }
      let health: ClientResponse<Grpc_Health_V1_HealthCheckResponse> = try await client.unary(
        request: ClientRequest(message: Grpc_Health_V1_HealthCheckRequest()),
        descriptor: MethodDescriptor(service: "grpc.health.v1.Health", method: "Check"))
      #expect(health.message.status == .serving)
    }
  }

  @Test func aServerWithAMethodThatDeclaresNoAccessCannotBeBuilt() throws {
    struct Undeclared: RegistrableRPCService {
      func registerMethods(with router: inout RPCRouter) {
        router.registerUnary(
          MethodDescriptor(service: "auth.test.Probe", method: "Forgotten"), input: Grpc_Testing_SimpleRequest.self,
          output: Grpc_Testing_SimpleResponse.self
        ) { _, _ in ServerResponse(message: Grpc_Testing_SimpleResponse()) }
      }
    }
    #expect(throws: MissingAccessRule.self) {
      try AuthenticationInterceptor(verifier: self.verifier, services: [WhoAmIService(), Undeclared()])
    }
    do {
      _ = try AuthenticationInterceptor(verifier: self.verifier, services: [WhoAmIService(), Undeclared(), HealthService()])
    } catch {
      #expect(error.paths == ["/auth.test.Probe/Forgotten"])
      #expect(error.description.contains("suite.v1.access"))
    }
  }

  @Test func aMethodOutsideTheRulesIsRefusedEvenWithAnAdminToken() async throws {
    // Rules that know only `Read`, as if `Manage` had been registered after they were built.
    let rules = AccessRules(byPath: [WhoAmIService.read.path: .role(.viewer)], otherwise: nil)
    let server = GRPCServer(
      configuration: GRPCServer.Configuration(threads: 1), services: [WhoAmIService()],
      interceptors: [AuthenticationInterceptor(verifier: self.verifier, rules: rules)])
    let address = try await server.start()
    let transport = HTTP2ClientTransport(host: "127.0.0.1", port: address.port!)
    let client = RPCClient(transport: transport)
    let admin = "Bearer \(self.token(role: .admin))"
    await self.expectCode(.permissionDenied) { _ = try await self.call(client, WhoAmIService.manage, admin) }
    await self.expectCode(.permissionDenied) { _ = try await self.call(client, WhoAmIService.manage, nil) }
    let read = try? await self.call(client, WhoAmIService.read, admin)
    #expect(read?.username == "u-admin")
    await transport.close()
    await server.shutDown()
  }

  func withLoopbackAuthServer(_ body: (RPCClient) async throws -> Void) async throws {
    let server = GRPCServer(
      configuration: GRPCServer.Configuration(threads: 1), services: [WhoAmIService(), HealthService()],
      interceptors: [try self.interceptor])
    let address = try await server.start()
    let transport = HTTP2ClientTransport(host: "127.0.0.1", port: address.port!)
    let client = RPCClient(transport: transport)
    do {
      try await body(client)
    } catch {
      await transport.close()
      await server.shutDown()
      throw error
    }
    await transport.close()
    await server.shutDown()
  }
}

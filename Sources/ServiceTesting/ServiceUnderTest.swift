public import Auth
import DatabaseRuntime
import Logging
public import Migrations
public import Postgres
import PostgresTestSupport
public import RPCCore
import RPCHTTP2
public import ServiceKit
public import ServiceRuntime

/// A service running in the test's process, over real HTTP/2 on loopback, as
/// ``withService(named:migrations:authenticated:configurePool:assemble:_:)`` started it.
public struct ServiceUnderTest: Sendable {
  /// The address the server is bound to (127.0.0.1, a free port).
  public let address: ListenAddress
  /// A client of the server that sends no credentials.
  public let client: RPCClient
  /// The pool on the service's throwaway schema (`nil` when it has no database).
  public let pool: PostgresPool?
  /// Signs the access tokens of ``client(as:tenant:subject:)``; the service verifies them with
  /// its public key when it was started `authenticated`.
  public let tokens: TestTokens

  /// A client whose calls carry an access token for a caller with `role` in `tenant`.
  public func client(as role: Role, tenant: String = TestTokens.tenant, subject: String = "tester") -> RPCClient {
    RPCClient(
      transport: self.client.transport,
      interceptors: [BearerToken(token: self.tokens.token(role: role, tenant: tenant, subject: subject))])
  }
}

/// Access tokens signed with a key made for one test run, as identity would issue them.
public struct TestTokens: Sendable {
  /// The tenant test callers belong to unless a test names another.
  public static let tenant = "00000000-0000-4000-8000-000000000001"
  /// The key id tokens name.
  public static let keyID = "test"

  public let key = Ed25519SigningKey()

  /// The public key, as a service's verifier takes it.
  public var verificationKeys: StaticVerificationKeys { StaticVerificationKeys([Self.keyID: self.key.publicKey]) }

  /// A token for `role` in `tenant`, valid for ten minutes.
  public func token(role: Role, tenant: String = TestTokens.tenant, subject: String = "tester") -> String {
    let now = UnixTime.seconds()
    let claims = AccessTokenClaims(
      issuer: "identity", subject: subject, tenantID: tenant, role: role, issuedAt: now, expiresAt: now + 600,
      tokenID: "test-\(UInt64.random(in: 0...UInt64.max))")
    return AccessToken.sign(claims, keyID: Self.keyID, key: self.key)
  }
}

/// Adds `authorization: Bearer <token>` to every call.
struct BearerToken: ClientInterceptor {
  let token: String

  func intercept<Result: Sendable>(
    metadata: Metadata, context: ClientContext, next: (Metadata, ClientContext) async throws -> Result
  ) async throws -> Result {
    var metadata = metadata
    metadata.add("authorization", "Bearer " + self.token)
    return try await next(metadata, context)
  }
}

/// Starts a service the way ``ServiceHost`` does, in this process, runs `body` against it and
/// stops it, on every path.
///
/// With `migrations`, the service gets a pool on a fresh schema of the test cluster
/// (PostgresTestSupport) with them applied, dropped afterwards. When `authenticated`, the
/// host's authentication interceptors check access tokens signed by ``ServiceUnderTest/tokens``
/// against the access each registered method declares, as ``ServiceHost`` does; a method that
/// declares none makes the start fail (``StartupError``).
/// The service's workers run while `body` does.
///
/// - Parameters:
///   - assemble: builds the service from the host's resources, as an executable's declaration
///     does, and returns whatever `body` needs besides the clients (such as the service's
///     context).
public func withService<Context, Result>(
  named name: String,
  migrations: [Migration]? = nil,
  authenticated: Bool = false,
  configurePool: @Sendable (inout PostgresPool.Configuration) -> Void = { _ in },
  assemble: (HostResources) async throws -> (Context, HostedService),
  _ body: (ServiceUnderTest, Context) async throws -> Result
) async throws -> Result {
  guard let migrations else {
    return try await serve(name: name, pool: nil, authenticated: authenticated, assemble: assemble, body)
  }
  return try await withTestSchema(name) { configuration in
    var pooled = PostgresPool.Configuration(connection: configuration)
    configurePool(&pooled)
    let pool = PostgresPool(configuration: pooled, logger: testLogger)
    do {
      let runner = try MigrationRunner(schema: configuration.searchPath![0], migrations: migrations, logger: testLogger)
      _ = try await runner.migrate(using: pool)
      let result = try await serve(name: name, pool: pool, authenticated: authenticated, assemble: assemble, body)
      await pool.close()
      return result
    } catch {
      await pool.close()
      throw error
    }
  }
}

private func serve<Context, Result>(
  name: String, pool: PostgresPool?, authenticated: Bool,
  assemble: (HostResources) async throws -> (Context, HostedService),
  _ body: (ServiceUnderTest, Context) async throws -> Result
) async throws -> Result {
  let tokens = TestTokens()
  let (context, hosted) = try await assemble(HostResources(name: name, logger: testLogger, pool: pool, identity: nil))
  var configuration = GRPCServer.Configuration(threads: 1)
  hosted.configureServer(&configuration)
  let running: RunningServer
  do {
    let authentication =
      authenticated
      ? try ServiceAuthentication.interceptors(services: hosted.services, keys: tokens.verificationKeys, identity: nil)
      : []
    running = try await RunningServer.start(
      name: name, address: ListenAddress(host: "127.0.0.1", port: 0), services: hosted.services,
      interceptors: authentication + hosted.interceptors, configuration: configuration, logger: testLogger)
  } catch {
    await hosted.close()
    throw error
  }
  let transport = HTTP2ClientTransport(host: "127.0.0.1", port: running.address.port)
  let service = ServiceUnderTest(
    address: running.address, client: RPCClient(transport: transport), pool: pool, tokens: tokens)
  do {
    let result = try await withWorkers(hosted.workers) { try await body(service, context) }
    await transport.close()
    await running.stop(drainTimeout: .seconds(10))
    await hosted.close()
    return result
  } catch {
    await transport.close()
    await running.stop(drainTimeout: .seconds(10))
    await hosted.close()
    throw error
  }
}

/// Runs `body` with `workers` running beside it; cancels them when it returns.
private func withWorkers<Result>(
  _ workers: [BackgroundWorker], _ body: () async throws -> Result
) async throws -> Result {
  guard !workers.isEmpty else { return try await body() }
  return try await withThrowingTaskGroup(of: Void.self) { group in
    for worker in workers {
      group.addTask {
        do { try await worker.run() } catch is CancellationError {}
      }
    }
    defer { group.cancelAll() }
    return try await body()
  }
}

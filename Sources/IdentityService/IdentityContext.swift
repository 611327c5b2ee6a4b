public import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
public import Logging
public import Postgres
internal import PostgresRPC
internal import RPCCore

/// Settings of the identity service.
public struct IdentitySettings: Sendable {
  /// Lifetime of access tokens.
  public var accessTokenLifetime: Duration = .seconds(15 * 60)
  /// Lifetime of refresh tokens.
  public var refreshTokenLifetime: Duration = .seconds(30 * 24 * 3600)
  /// How long before it signs a new key is published.
  public var keyPublicationLead: Duration = .seconds(60)
  /// A rotated refresh token presented again within this time is treated as a client retry,
  /// not as theft.
  public var refreshReuseGrace: Duration = .seconds(5)
  /// Failed logins of one account within ``failureWindow`` before it is locked.
  public var accountFailureLimit = 5
  /// Failed logins from one client address within ``failureWindow`` before it is locked.
  public var clientFailureLimit = 50
  public var failureWindow: Duration = .seconds(15 * 60)
  public var lockDuration: Duration = .seconds(15 * 60)
  /// Shortest password accepted.
  public var minimumPasswordLength = 12
  /// Password hashing cost (argon2id).
  public var passwordCost: PasswordHash.Cost = .interactive
  /// The `iss` of access tokens.
  public var issuer = "identity"
  /// Seals signing-key seeds at rest (`IDENTITY_SEED_KEY`); without it seeds are stored as
  /// they are, protected only by the schema's role.
  public var seedBox: SecretBox?

  public init() {}
}

/// What the identity handlers share: the database, the signing keys and the settings.
public struct IdentityContext: Sendable {
  let database: Database
  let keys: SigningKeyRing
  let settings: IdentitySettings
  let logger: Logger

  /// Constraint names with the messages clients see when one rejects a write.
  static let constraintMessages = [
    "users_tenant_email_key": "A user with this email already exists in this tenant.",
    "users_tenant_phone_key": "A user with this phone number already exists in this tenant.",
    "users_email_check": "The email must be 3 to 320 characters.",
    "tenants_name_check": "The tenant name must be 1 to 200 characters.",
  ]

  public init(pool: PostgresPool, settings: IdentitySettings = IdentitySettings(), logger: Logger) {
    self.database = Database(pool: pool, errors: DatabaseErrorMapping(constraintMessages: Self.constraintMessages))
    self.keys = SigningKeyRing(
      pool: pool, accessTokenLifetime: settings.accessTokenLifetime, publicationLead: settings.keyPublicationLead,
      seedBox: settings.seedBox, logger: logger)
    self.settings = settings
    self.logger = logger
  }

  var pool: PostgresPool { self.database.pool }
  var apiKeys: ApiKeyStore { ApiKeyStore(database: self.database) }
  var sessions: SessionStore { SessionStore(database: self.database) }
  var users: UserStore { UserStore(database: self.database) }
  var userSettings: UserSettingsStore { UserSettingsStore(database: self.database) }

  /// Creates the first signing key if there is none (run once at start-up, after migrations).
  public func prepare() async throws {
    try await self.keys.ensureSigningKey()
  }

  /// Verifies this service's own access tokens against the keys in its database.
  public func accessTokenVerifier() -> AccessTokenVerifier {
    let ring = self.keys
    return AccessTokenVerifier(
      keys: CachedVerificationKeys(minimumRefetchInterval: .seconds(1)) { try await ring.publicKeys() },
      issuer: self.settings.issuer)
  }

  /// argon2id off the cooperative pool and the event loops: on the blocking thread pool.
  func hashPassword(_ password: String) async throws -> String {
    let cost = self.settings.passwordCost
    return try await BlockingThreadPool.shared.run { try PasswordHash.hash(password, cost: cost) }
  }

  func verifyPassword(_ password: String, against hash: String) async throws -> Bool {
    try await BlockingThreadPool.shared.run { PasswordHash.verify(password, against: hash) }
  }

  func checkPasswordPolicy(_ password: String) throws(RPCError) {
    let length = password.count
    guard length >= self.settings.minimumPasswordLength else {
      throw RPCError(
        code: .invalidArgument,
        message: "The password must be at least \(self.settings.minimumPasswordLength) characters long.")
    }
    guard password.utf8.count <= 1024 else {
      throw RPCError(code: .invalidArgument, message: "The password must be at most 1024 bytes long.")
    }
  }
}

import ArgumentParser
import Auth
import IdentityService
import Logging
import Postgres
import ServiceKit
import ServiceRuntime

/// The identity service's own settings: `--access-token-seconds` and `IDENTITY_SEED_KEY`.
struct IdentityOptions: ParsableArguments {
  /// What `--help` says about the environment `serve` reads.
  static let environment = """
    DATABASE_URL (the identity role's PostgreSQL URL), IDENTITY_SEED_KEY (32 bytes, \
    base64url: seals the signing-key seeds at rest), IDENTITY_TRUSTED_PROXIES (comma-separated \
    IP addresses, such as the gateway's, whose x-forwarded-for names the client for the \
    per-address login throttle), LOG_LEVEL
    """

  @Option(help: "Access token lifetime in seconds.")
  var accessTokenSeconds: Int = 900

  func validate() throws {
    if !(30...86400).contains(self.accessTokenSeconds) {
      throw ValidationError("--access-token-seconds must be in 30...86400.")
    }
  }

  func settings() throws -> IdentitySettings {
    var settings = IdentitySettings()
    settings.accessTokenLifetime = .seconds(self.accessTokenSeconds)
    settings.seedBox = try Self.seedBox()
    return settings
  }

  /// The seed key from IDENTITY_SEED_KEY (32 bytes, base64url), if set.
  static func seedBox() throws -> SecretBox? {
    guard let text = Environment.value("IDENTITY_SEED_KEY") else { return nil }
    guard let key = Base64URL.decode(text), let box = try? SecretBox(key: key) else {
      throw ValidationError("IDENTITY_SEED_KEY must be 32 bytes in unpadded base64url.")
    }
    return box
  }

  /// Client addresses for the per-address login throttle: the peer's, or the one a trusted proxy
  /// (IDENTITY_TRUSTED_PROXIES) names.
  static func clientAddresses() -> ClientAddressInterceptor {
    ClientAddressInterceptor(parsing: Environment.value("IDENTITY_TRUSTED_PROXIES"))
  }

  /// The handlers' context on a migrated pool, with a signing key ready.
  static func context(pool: PostgresPool, settings: IdentitySettings, logger: Logger) async throws -> IdentityContext {
    if settings.seedBox == nil {
      logger.warning("IDENTITY_SEED_KEY is not set: signing-key seeds are stored unencrypted")
    }
    let context = IdentityContext(pool: pool, settings: settings, logger: logger)
    try await context.prepare()
    return context
  }
}

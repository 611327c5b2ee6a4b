public import Logging
public import Postgres
public import ServiceKit
import ServiceLifecycle
public import ServiceRuntime

/// The host's handle on a ``ServiceDatabase``: owns the pool, migrates the schema when the host
/// prepares it, and closes the pool when the group shuts down or is cancelled, whichever comes
/// first.
public struct PoolService: OpenHostDatabase {
  public let pool: PostgresPool
  /// The schema `prepare` migrates; `nil` for a pool whose schema is migrated already.
  let database: ServiceDatabase?

  public func prepare(logger: Logger) async throws(StartupError) {
    try await self.database?.migrate(using: self.pool, logger: logger)
  }

  public func run() async throws {
    try? await gracefulShutdown()
    await self.pool.close()
  }
}

extension ServiceDatabase: HostDatabase {
  public func open(name: String, logger: Logger) throws(StartupError) -> any OpenHostDatabase {
    PoolService(pool: try self.makePool(name: name, logger: logger), database: self)
  }
}

extension HostResources {
  /// The pool on the service's migrated schema.
  ///
  /// - Important: Only a host given a ``ServiceDatabase`` has one; asking without is a
  ///   programming error and stops the process.
  public var pool: PostgresPool {
    guard let pool = (self.database as? PoolService)?.pool else {
      fatalError("\(self.name) declares no database, so the host has no pool to give it")
    }
    return pool
  }

  /// The resources of a service assembled on `pool`, a pool on its migrated schema (or none),
  /// as ServiceTesting starts services in process.
  public init(name: String, logger: Logger, pool: PostgresPool?, identity: IdentityClient?) {
    self.init(
      name: name, logger: logger, database: pool.map { PoolService(pool: $0, database: nil) }, identity: identity)
  }
}

@testable import CatalogService
import CatalogSchema
import Migrations
import Postgres
import PostgresTestSupport

/// Runs `body` with a catalog context on a fresh schema of the test cluster (named after
/// `prefix`) with the catalog's migrations applied; the pool closes however `body` ends.
func withMigratedCatalog(
  prefix: String, maximumConnections: Int? = nil, _ body: (CatalogContext) async throws -> Void
) async throws {
  try await withTestSchema(prefix) { configuration in
    var pooled = PostgresPool.Configuration(connection: configuration)
    if let maximumConnections { pooled.maximumConnections = maximumConnections }
    let pool = PostgresPool(configuration: pooled, logger: testLogger)
    do {
      let runner = try MigrationRunner(schema: configuration.searchPath![0], migrations: CatalogMigrations.all, logger: testLogger)
      _ = try await runner.migrate(using: pool)
      try await body(CatalogContext(pool: pool, logger: testLogger))
    } catch {
      await pool.close()
      throw error
    }
    await pool.close()
  }
}

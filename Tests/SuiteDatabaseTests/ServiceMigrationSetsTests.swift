import CatalogSchema
import Foundation
import IdentitySchema
import Migrations
import SuiteDatabase
import Testing

@Suite("Service migration sets")
struct ServiceMigrationSetsTests {
  static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Sources")

  @Test(arguments: [("IdentitySchema", IdentityMigrations.all), ("CatalogSchema", CatalogMigrations.all)])
  func compiledInSetsAreExactlyTheSQLFilesOfTheirFolder(_ module: String, _ compiledIn: [Migration]) throws {
    let folder = Self.sources.appendingPathComponent(module).appendingPathComponent("migrations").path
    #expect(compiledIn == (try MigrationFiles.load(directory: folder)))
  }

  /// The checksums recorded by databases that applied these migrations when their SQL was a
  /// Swift literal: moving it to files must not change a byte of any `up`.
  @Test func appliedMigrationsKeepTheirChecksums() {
    let identity = IdentityMigrations.all.map { "\($0.version) \($0.name) \($0.checksum)" }
    #expect(identity == [
      "1 tenants_users_sessions_keys_audit 171d3251551984e4bd94a5feed48dc48dae8931c394c5616d14830bb77e1f12a",
      "2 api_keys_preferences_dashboards_redactable_audit d8f413fd4a72b7cd8bdc5242a84873f70e2779e0c7b8a8b9a5bef3b9fef512bf",
      "3 login_attempts_in_flight 04ae2f8579fabfd971ba266b2d2074b632397b1f7385d2f170776eae2982818e",
    ])
    let catalog = CatalogMigrations.all.map { "\($0.version) \($0.name) \($0.checksum)" }
    #expect(catalog == [
      "1 products_categories_stock_reservations cc1dec863fdac55c18fe2023045deba630d15aefaed6c4d4ad59fa23adfcda06",
      "2 outbox ea9ee5cdda061613673b392e4c13f73fb5226ccca2579034845a48af85a30505",
      "3 stock_bi 3f05e0eb6845955a87d3140f4662dc0109b6b043ad7110b2390ddc38b3708a70",
      "4 stock_bi_whole_file_client_numbering 2e77bb3ca39c14539a07eb6d6139aa5acb4e7772f3ca3d06c5a705d3d7d576d5",
      "5 stock_snapshots_bulk_load e6a7a2b003f88ec0638cbfbe7a5f81fceaa3a7b555761260c4102cb796aac967",
    ])
  }
}

public import Migrations

/// The `catalog` schema's migrations, in version order: the SQL files in `migrations/`
/// (`NNNN_name.up.sql` / `NNNN_name.down.sql`), compiled in byte for byte. Applied at start-up
/// (and by `suite-db migrate --service catalog`). Version 2 creates the `outbox` table that
/// `Outbox` writes to. Never edit an applied `.up.sql` (its checksum is recorded); add a
/// migration: its two files, and their lines here.
public enum CatalogMigrations {
  public static let all: [Migration] = MigrationFiles.compiledIn(
    "catalog",
    [
      // SwiftPM names each embedded file after its name, with the first character replaced by `_`.
      ("0001_products_categories_stock_reservations.down.sql", PackageResources._001_products_categories_stock_reservations_down_sql),
      ("0001_products_categories_stock_reservations.up.sql", PackageResources._001_products_categories_stock_reservations_up_sql),
      ("0002_outbox.down.sql", PackageResources._002_outbox_down_sql),
      ("0002_outbox.up.sql", PackageResources._002_outbox_up_sql),
      ("0003_stock_bi.down.sql", PackageResources._003_stock_bi_down_sql),
      ("0003_stock_bi.up.sql", PackageResources._003_stock_bi_up_sql),
      ("0004_stock_bi_whole_file_client_numbering.down.sql", PackageResources._004_stock_bi_whole_file_client_numbering_down_sql),
      ("0004_stock_bi_whole_file_client_numbering.up.sql", PackageResources._004_stock_bi_whole_file_client_numbering_up_sql),
      ("0005_stock_snapshots_bulk_load.down.sql", PackageResources._005_stock_snapshots_bulk_load_down_sql),
      ("0005_stock_snapshots_bulk_load.up.sql", PackageResources._005_stock_snapshots_bulk_load_up_sql),
    ])
}

-- Imports stream their rows into this table with one COPY. B-trees over the rows made that
-- COPY 3 to 6 times slower than into a plain table (BENCHMARKS.md), so the rows have none:
-- a BRIN index (tenant, date) serves the per-tenant, per-date queries of this bulk-loaded,
-- append-mostly table. One row per (tenant, date, client, centre, product code, lot) is kept
-- by the only writer, SnapshotImport: an import replaces whole dates (older rows of the
-- dates it contains, told apart by import_id), the last row of a key within an import wins,
-- and imports of one tenant are serialized by an advisory lock.
ALTER TABLE stock_snapshots ADD COLUMN import_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE stock_snapshots DROP CONSTRAINT stock_snapshots_pkey;
DROP INDEX stock_snapshots_date;
CREATE INDEX stock_snapshots_tenant_date ON stock_snapshots
  USING brin (tenant_id uuid_bloom_ops, snapshot_date) WITH (autosummarize = on);
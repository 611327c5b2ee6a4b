DROP INDEX stock_snapshots_tenant_date;
ALTER TABLE stock_snapshots ADD CONSTRAINT stock_snapshots_pkey
  PRIMARY KEY (tenant_id, snapshot_date, client_code, centre, product_code, lot);
CREATE INDEX stock_snapshots_date ON stock_snapshots (tenant_id, snapshot_date);
ALTER TABLE stock_snapshots DROP COLUMN import_id;
ALTER TABLE stock_snapshots DROP CONSTRAINT stock_snapshots_tonnes_not_negative;
ALTER TABLE stock_snapshots ADD CONSTRAINT stock_snapshots_tenant_id_client_code_fkey
  FOREIGN KEY (tenant_id, client_code) REFERENCES stock_clients (tenant_id, code);
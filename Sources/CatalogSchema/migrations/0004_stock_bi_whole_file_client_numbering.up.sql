-- Clients are created once a whole import has been read (so that new clients are
-- numbered in code order across the file), after its rows: no FK from the rows.
ALTER TABLE stock_snapshots DROP CONSTRAINT stock_snapshots_tenant_id_client_code_fkey;
ALTER TABLE stock_snapshots ADD CONSTRAINT stock_snapshots_tonnes_not_negative CHECK (total_tonnes >= 0);
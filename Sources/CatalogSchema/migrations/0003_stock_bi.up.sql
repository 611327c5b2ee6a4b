CREATE TABLE stock_clients (
  tenant_id uuid NOT NULL,
  code text NOT NULL,
  name text NOT NULL,
  PRIMARY KEY (tenant_id, code));

-- One row per (date, client, centre, product code, lot): re-imports replace rows.
CREATE TABLE stock_snapshots (
  tenant_id uuid NOT NULL,
  snapshot_date date NOT NULL,
  client_code text NOT NULL,
  centre text NOT NULL,
  material_type text NOT NULL,
  origin text NOT NULL,
  product_code text NOT NULL,
  lot text NOT NULL,
  days_in_stock integer NOT NULL CHECK (days_in_stock >= 0),
  product_form text NOT NULL,
  merchandise_group text NOT NULL,
  total_tonnes numeric(18, 3) NOT NULL,
  sku text NOT NULL,
  imported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, snapshot_date, client_code, centre, product_code, lot),
  FOREIGN KEY (tenant_id, client_code) REFERENCES stock_clients (tenant_id, code));
CREATE INDEX stock_snapshots_date ON stock_snapshots (tenant_id, snapshot_date);
CREATE TABLE categories (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  parent_id uuid REFERENCES categories (id),
  CHECK (parent_id IS DISTINCT FROM id));
CREATE INDEX categories_tenant ON categories (tenant_id);

CREATE TABLE products (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
  description text NOT NULL DEFAULT '',
  brand text NOT NULL DEFAULT '',
  category_id uuid REFERENCES categories (id),
  price numeric(20, 4) NOT NULL CHECK (price >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  tax_code text NOT NULL DEFAULT '',
  attributes jsonb NOT NULL DEFAULT '{}',
  archived boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE UNIQUE INDEX products_tenant_sku_key ON products (tenant_id, sku);

CREATE TABLE locations (
  tenant_id uuid NOT NULL,
  code text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,16}$'),
  name text NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, code));

-- Stock per product and location. Available = on_hand - reserved can never go below
-- zero: the CHECK is the last line of defence behind the service's row locks.
CREATE TABLE stock (
  tenant_id uuid NOT NULL,
  product_id uuid NOT NULL REFERENCES products (id),
  location_code text NOT NULL,
  on_hand bigint NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
  reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  reorder_threshold bigint NOT NULL DEFAULT 0 CHECK (reorder_threshold >= 0),
  last_restock_at timestamptz,
  PRIMARY KEY (tenant_id, product_id, location_code),
  FOREIGN KEY (tenant_id, location_code) REFERENCES locations (tenant_id, code),
  CONSTRAINT stock_available_not_negative CHECK (reserved <= on_hand));

-- Every stock change, insert-only: on_hand and reserved always equal the sums.
CREATE TABLE stock_movements (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL,
  product_id uuid NOT NULL,
  location_code text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('restock', 'correction', 'reservation', 'commit', 'release')),
  on_hand_delta bigint NOT NULL,
  reserved_delta bigint NOT NULL,
  reason text NOT NULL DEFAULT '',
  actor text NOT NULL,
  reservation_id uuid,
  at timestamptz NOT NULL DEFAULT now());
CREATE INDEX stock_movements_stock ON stock_movements (tenant_id, product_id, location_code);
CREATE FUNCTION stock_movements_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'stock_movements is insert-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER stock_movements_insert_only BEFORE UPDATE OR DELETE ON stock_movements
  FOR EACH ROW EXECUTE FUNCTION stock_movements_insert_only();

CREATE TABLE reservations (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  order_id text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 128),
  status text NOT NULL CHECK (status IN ('reserved', 'committed', 'released', 'expired')),
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE UNIQUE INDEX reservations_tenant_order_key ON reservations (tenant_id, order_id);
CREATE INDEX reservations_expiry ON reservations (expires_at) WHERE status = 'reserved';
CREATE TABLE reservation_lines (
  reservation_id uuid NOT NULL REFERENCES reservations (id),
  product_id uuid NOT NULL,
  location_code text NOT NULL,
  quantity bigint NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (reservation_id, product_id, location_code));
import EventOutbox
public import Migrations

/// The `catalog` schema's migrations, in version order.
public enum CatalogMigrations {
  public static let all: [Migration] = [
    Migration(
      version: 1, name: "products_categories_stock_reservations",
      up: """
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
        """,
      down: """
        DROP TABLE reservation_lines;
        DROP TABLE reservations;
        DROP TRIGGER stock_movements_insert_only ON stock_movements;
        DROP FUNCTION stock_movements_insert_only();
        DROP TABLE stock_movements;
        DROP TABLE stock;
        DROP TABLE locations;
        DROP TABLE products;
        DROP TABLE categories;
        """),
    Outbox.migration(version: 2),
    Migration(
      version: 3, name: "stock_bi",
      up: """
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
        """,
      down: """
        DROP TABLE stock_snapshots;
        DROP TABLE stock_clients;
        """),
    Migration(
      version: 4, name: "stock_bi_whole_file_client_numbering",
      up: """
        -- Clients are created once a whole import has been read (so that new clients are
        -- numbered in code order across the file), after its rows: no FK from the rows.
        ALTER TABLE stock_snapshots DROP CONSTRAINT stock_snapshots_tenant_id_client_code_fkey;
        ALTER TABLE stock_snapshots ADD CONSTRAINT stock_snapshots_tonnes_not_negative CHECK (total_tonnes >= 0);
        """,
      down: """
        ALTER TABLE stock_snapshots DROP CONSTRAINT stock_snapshots_tonnes_not_negative;
        ALTER TABLE stock_snapshots ADD CONSTRAINT stock_snapshots_tenant_id_client_code_fkey
          FOREIGN KEY (tenant_id, client_code) REFERENCES stock_clients (tenant_id, code);
        """),
    Migration(
      version: 5, name: "stock_snapshots_bulk_load",
      up: """
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
        """,
      down: """
        DROP INDEX stock_snapshots_tenant_date;
        ALTER TABLE stock_snapshots ADD CONSTRAINT stock_snapshots_pkey
          PRIMARY KEY (tenant_id, snapshot_date, client_code, centre, product_code, lot);
        CREATE INDEX stock_snapshots_date ON stock_snapshots (tenant_id, snapshot_date);
        ALTER TABLE stock_snapshots DROP COLUMN import_id;
        """),
  ]
}

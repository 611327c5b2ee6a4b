CREATE TABLE outbox (
  position bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL,
  type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX outbox_tenant_position ON outbox (tenant_id, position);
-- API keys: shown once, stored as SHA-256; `prefix` is what a person sees to tell keys apart.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  prefix text NOT NULL,
  key_hash bytea NOT NULL UNIQUE,
  role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
  created_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE user_preferences (
  user_id uuid PRIMARY KEY REFERENCES users (id),
  tenant_id uuid NOT NULL,
  theme text NOT NULL DEFAULT 'system',
  language text NOT NULL DEFAULT 'en',
  timezone text NOT NULL DEFAULT 'UTC',
  date_format text NOT NULL DEFAULT 'YYYY-MM-DD',
  time_format text NOT NULL DEFAULT 'HH:mm',
  notify_email boolean NOT NULL DEFAULT true,
  notify_push boolean NOT NULL DEFAULT false,
  dashboard_refresh_seconds integer NOT NULL DEFAULT 60 CHECK (dashboard_refresh_seconds BETWEEN 5 AND 86400),
  custom jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE dashboard_layouts (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  layout jsonb NOT NULL,
  is_default boolean NOT NULL DEFAULT false,
  shared boolean NOT NULL DEFAULT false,
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE UNIQUE INDEX dashboard_layouts_one_default ON dashboard_layouts (user_id) WHERE is_default;
CREATE INDEX dashboard_layouts_tenant ON dashboard_layouts (tenant_id, shared);

-- Audit rows chain a digest of their before/after data, so personal data can be removed
-- (right to be forgotten) without breaking the chain. Rows written before this
-- migration keep the version-1 hash over the data itself.
ALTER TABLE audit_events ADD COLUMN payload_hash bytea, ADD COLUMN redacted boolean NOT NULL DEFAULT false;
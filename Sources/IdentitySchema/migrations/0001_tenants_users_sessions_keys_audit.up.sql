CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  plan text NOT NULL DEFAULT 'free',
  config jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE users (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  phone text,
  username text NOT NULL DEFAULT '',
  full_name text NOT NULL DEFAULT '',
  role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
  platform_operator boolean NOT NULL DEFAULT false,
  active boolean NOT NULL DEFAULT true,
  verified boolean NOT NULL DEFAULT false,
  receive_email boolean NOT NULL DEFAULT true,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  last_access_at timestamptz);
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, lower(email));
CREATE UNIQUE INDEX users_tenant_phone_key ON users (tenant_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX users_tenant_created ON users (tenant_id, created_at, id);

-- Ed25519 keys that sign access tokens. `seed` is the private key.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  seed bytea NOT NULL,
  public_key bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  active_from timestamptz NOT NULL,
  published_until timestamptz);

-- Refresh tokens, stored as SHA-256 of the token; one family per login.
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY,
  family_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id),
  issued_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  rotated_at timestamptz,
  revoked_at timestamptz);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed logins per account and per client address, for throttling.
CREATE TABLE login_failures (
  key text PRIMARY KEY,
  failures integer NOT NULL,
  window_start timestamptz NOT NULL,
  locked_until timestamptz);

-- Hash-chained audit log, one chain per tenant; `audit_heads` holds each chain's tip
-- so that deleting the newest rows is detected too.
CREATE TABLE audit_events (
  tenant_id uuid NOT NULL,
  seq bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  entity text NOT NULL,
  entity_id text NOT NULL,
  before_json text NOT NULL,
  after_json text NOT NULL,
  at_us bigint NOT NULL,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL,
  PRIMARY KEY (tenant_id, seq));
CREATE INDEX audit_events_entity ON audit_events (tenant_id, entity_id, seq);
CREATE TABLE audit_heads (
  tenant_id uuid PRIMARY KEY,
  seq bigint NOT NULL,
  hash bytea NOT NULL);
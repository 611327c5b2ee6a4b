public import Migrations

/// The `identity` schema's migrations, in version order. Applied at start-up (and by
/// `suite-db migrate --service identity`). Never edit an applied `up`; add a migration.
public enum IdentityMigrations {
  public static let all: [Migration] = [
    Migration(
      version: 1, name: "tenants_users_sessions_keys_audit",
      up: """
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
        """,
      down: """
        DROP TABLE audit_heads;
        DROP TABLE audit_events;
        DROP TABLE login_failures;
        DROP TABLE refresh_tokens;
        DROP TABLE signing_keys;
        DROP TABLE users;
        DROP TABLE tenants;
        """),
    Migration(
      version: 2, name: "api_keys_preferences_dashboards_redactable_audit",
      up: """
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
        """,
      down: """
        ALTER TABLE audit_events DROP COLUMN redacted, DROP COLUMN payload_hash;
        DROP TABLE dashboard_layouts;
        DROP TABLE user_preferences;
        DROP TABLE api_keys;
        """),
    Migration(
      version: 3, name: "login_attempts_in_flight",
      up: """
        -- Login attempts are counted before their password is checked (LoginThrottle), as
        -- `pending`, so that concurrent guesses cannot get past the failure limit.
        ALTER TABLE login_failures ADD COLUMN pending integer NOT NULL DEFAULT 0;
        """,
      down: """
        ALTER TABLE login_failures DROP COLUMN pending;
        """),
  ]
}

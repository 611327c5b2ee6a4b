public import Migrations

/// The `identity` schema's migrations, in version order: the SQL files in `migrations/`
/// (`NNNN_name.up.sql` / `NNNN_name.down.sql`), compiled in byte for byte. Applied at start-up
/// (and by `suite-db migrate --service identity`). Never edit an applied `.up.sql` (its
/// checksum is recorded); add a migration: its two files, and their lines here.
public enum IdentityMigrations {
  public static let all: [Migration] = MigrationFiles.compiledIn(
    "identity",
    [
      // SwiftPM names each embedded file after its name, with the first character replaced by `_`.
      ("0001_tenants_users_sessions_keys_audit.down.sql", PackageResources._001_tenants_users_sessions_keys_audit_down_sql),
      ("0001_tenants_users_sessions_keys_audit.up.sql", PackageResources._001_tenants_users_sessions_keys_audit_up_sql),
      ("0002_api_keys_preferences_dashboards_redactable_audit.down.sql", PackageResources._002_api_keys_preferences_dashboards_redactable_audit_down_sql),
      ("0002_api_keys_preferences_dashboards_redactable_audit.up.sql", PackageResources._002_api_keys_preferences_dashboards_redactable_audit_up_sql),
      ("0003_login_attempts_in_flight.down.sql", PackageResources._003_login_attempts_in_flight_down_sql),
      ("0003_login_attempts_in_flight.up.sql", PackageResources._003_login_attempts_in_flight_up_sql),
    ])
}

ALTER TABLE audit_events DROP COLUMN redacted, DROP COLUMN payload_hash;
DROP TABLE dashboard_layouts;
DROP TABLE user_preferences;
DROP TABLE api_keys;
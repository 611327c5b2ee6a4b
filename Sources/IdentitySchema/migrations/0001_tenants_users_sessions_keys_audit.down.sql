DROP TABLE audit_heads;
DROP TABLE audit_events;
DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE signing_keys;
DROP TABLE users;
DROP TABLE tenants;
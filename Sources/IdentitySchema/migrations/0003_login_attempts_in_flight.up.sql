-- Login attempts are counted before their password is checked (LoginThrottle), as
-- `pending`, so that concurrent guesses cannot get past the failure limit.
ALTER TABLE login_failures ADD COLUMN pending integer NOT NULL DEFAULT 0;
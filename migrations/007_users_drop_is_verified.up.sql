-- phase: contract
-- oldest-serving-version: v1.2.4
-- Runs once no serving code reads or writes is_verified: v1.2.4 writes email_verified only, while v1.2.3 still writes
-- both and v1.2.2 only is_verified. The sync trigger goes first: its function reads is_verified.
SET lock_timeout = '5s';
SET statement_timeout = '10min';
DROP TRIGGER IF EXISTS users_email_verified_sync ON users;
DROP FUNCTION IF EXISTS users_email_verified_sync();
UPDATE users SET email_verified = is_verified WHERE email_verified IS NULL;
ALTER TABLE users ALTER COLUMN email_verified SET DEFAULT false;
ALTER TABLE users DROP COLUMN IF EXISTS is_verified;

-- phase: contract
-- Runs once no deployed code reads is_verified. A last catch-up copies rows written before the dual-write code.
SET lock_timeout = '5s';
SET statement_timeout = '10min';
UPDATE users SET email_verified = is_verified WHERE email_verified IS NULL;
ALTER TABLE users ALTER COLUMN email_verified SET DEFAULT false;
ALTER TABLE users DROP COLUMN IF EXISTS is_verified;

-- returns-to-version: v1.2.2 (v1.2.3 writes email_verified)
SET lock_timeout = '5s';
SET statement_timeout = '60s';
ALTER TABLE users DROP COLUMN IF EXISTS email_verified;

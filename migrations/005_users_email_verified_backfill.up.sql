-- phase: backfill
-- Runs once the code writing both columns is live, so no new row can be missed afterwards.
SET lock_timeout = '5s';
SET statement_timeout = '10min';
UPDATE users SET email_verified = is_verified WHERE email_verified IS NULL;

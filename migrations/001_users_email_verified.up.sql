-- phase: expand
-- oldest-serving-version: v1.2.2
-- Nullable and without a default: rows keep NULL until the backfill copies is_verified into them. The plan's
-- "ADD COLUMN ... DEFAULT FALSE" would stamp FALSE on every existing row, and its backfill (WHERE email_verified
-- IS NULL) would then copy nothing. The default arrives in the contract phase.
SET lock_timeout = '5s';
SET statement_timeout = '60s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified boolean;

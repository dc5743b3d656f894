-- phase: expand
-- oldest-serving-version: v1.2.2
-- migrate:no-transaction
-- CONCURRENTLY keeps writes flowing while the index builds, and cannot run inside a transaction.
SET lock_timeout = '5s';
SET statement_timeout = '30min';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_verified ON users (email_verified);

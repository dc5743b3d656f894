-- migrate:no-transaction
-- returns-to-version: v1.2.2 (v1.2.3 looks users up by email_verified: without the index every lookup scans the table)
SET lock_timeout = '5s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS idx_users_email_verified;

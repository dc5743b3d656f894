-- migrate:no-transaction
-- returns-to-version: v1.2.2 (v1.2.3 looks payments up by stripe_payment_intent_id)
SET lock_timeout = '5s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS idx_payments_stripe_id;

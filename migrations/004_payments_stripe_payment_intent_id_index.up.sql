-- phase: expand
-- oldest-serving-version: v1.2.2
-- migrate:no-transaction
SET lock_timeout = '5s';
SET statement_timeout = '30min';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_payments_stripe_id ON payments (stripe_payment_intent_id);

-- phase: expand
-- oldest-serving-version: v1.2.2
SET lock_timeout = '5s';
SET statement_timeout = '60s';
ALTER TABLE payments ADD COLUMN IF NOT EXISTS stripe_payment_intent_id varchar(255);

-- returns-to-version: v1.2.2 (v1.2.3 writes stripe_payment_intent_id)
SET lock_timeout = '5s';
SET statement_timeout = '60s';
ALTER TABLE payments DROP COLUMN IF EXISTS stripe_payment_intent_id;

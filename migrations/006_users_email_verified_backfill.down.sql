-- returns-to-version: v1.2.3 (nothing to undo: is_verified holds the truth until the contract phase drops it; v1.2.4,
-- which reads email_verified only, needs the backfill)
SELECT 1;

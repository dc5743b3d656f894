-- phase: backfill
-- oldest-serving-version: v1.2.2
-- migrate:no-transaction
-- Copies is_verified into the rows the sync trigger (005) has not seen since: rows untouched since before it, and
-- rows v1.2.3 wrote before it existed, whose email_verified may differ (until the trigger, v1.2.2's writes reached
-- is_verified only, so is_verified holds every row's latest value). Rows written since the trigger are equal already.
-- Bounded batches of ids, each committed on its own (COMMIT inside DO needs the file outside a transaction), so row
-- locks are held for one batch only and a run that dies part-way keeps what it committed: running the file again
-- skips the rows already equal. lock_timeout applies to each batch's row locks;
-- statement_timeout to the whole DO statement, so it bounds the backfill as a whole.
SET lock_timeout = '5s';
SET statement_timeout = '30min';
DO $$
DECLARE
    batch constant bigint := 1000;
    last_id bigint := 0;
    max_id bigint;
    copied bigint := 0;
    batches integer := 0;
    n bigint;
BEGIN
    SELECT coalesce(max(id), 0) INTO max_id FROM users;
    WHILE last_id < max_id LOOP
        UPDATE users SET email_verified = is_verified
         WHERE id > last_id AND id <= last_id + batch AND email_verified IS DISTINCT FROM is_verified;
        GET DIAGNOSTICS n = ROW_COUNT;
        copied := copied + n;
        batches := batches + 1;
        last_id := last_id + batch;
        COMMIT;
    END LOOP;
    RAISE NOTICE 'backfill: copied is_verified into % rows in % batches of at most % ids', copied, batches, batch;
END
$$;

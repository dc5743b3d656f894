-- migrate:no-transaction
-- returns-to-version: v1.2.4 (the backfill phase's schema: v1.2.2, v1.2.3 and v1.2.4 all run on it)
-- Puts is_verified back without a long ACCESS EXCLUSIVE lock, and correct when email_verified holds NULLs (rows
-- written after the contract with an explicit NULL): NULL becomes false, the column's old default.
--   1. add the column nullable, default false: a catalog-only change, a brief lock; new rows get false; then the
--      sync trigger of 005, so that writes during the copy, and after it from any version, keep the columns equal;
--   2. copy email_verified in committed batches of ids (row locks only, resumable);
--   3. NOT NULL through a CHECK added NOT VALID then VALIDATEd (SHARE UPDATE EXCLUSIVE: writes go on), which lets
--      SET NOT NULL skip its table scan (PostgreSQL 12+), then drop the helper constraint.
SET lock_timeout = '5s';
SET statement_timeout = '30min';
ALTER TABLE users ADD COLUMN IF NOT EXISTS is_verified boolean;
ALTER TABLE users ALTER COLUMN is_verified SET DEFAULT false;
CREATE OR REPLACE FUNCTION users_email_verified_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.email_verified IS NULL THEN
        NEW.email_verified := NEW.is_verified;
    ELSIF TG_OP = 'INSERT' THEN
        NEW.is_verified := NEW.email_verified;
    ELSIF NEW.email_verified IS DISTINCT FROM OLD.email_verified AND NEW.email_verified IS NOT NULL THEN
        NEW.is_verified := NEW.email_verified;
    ELSIF NEW.is_verified IS NULL THEN
        NEW.is_verified := NEW.email_verified;
    ELSE
        NEW.email_verified := NEW.is_verified;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS users_email_verified_sync ON users;
CREATE TRIGGER users_email_verified_sync BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_email_verified_sync();
DO $$
DECLARE
    batch constant bigint := 1000;
    last_id bigint := 0;
    max_id bigint;
BEGIN
    SELECT coalesce(max(id), 0) INTO max_id FROM users;
    WHILE last_id < max_id LOOP
        UPDATE users SET is_verified = coalesce(email_verified, false)
         WHERE id > last_id AND id <= last_id + batch AND is_verified IS NULL;
        last_id := last_id + batch;
        COMMIT;
    END LOOP;
END
$$;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_is_verified_not_null;
ALTER TABLE users ADD CONSTRAINT users_is_verified_not_null CHECK (is_verified IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_is_verified_not_null;
ALTER TABLE users ALTER COLUMN is_verified SET NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_is_verified_not_null;
ALTER TABLE users ALTER COLUMN email_verified DROP DEFAULT;

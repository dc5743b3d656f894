-- phase: expand
-- oldest-serving-version: v1.2.2
-- While v1.2.2 (writes is_verified only) and v1.2.3 (writes both) serve together, a trigger keeps the columns equal
-- for writes of either version in any order, until the contract phase drops is_verified and the trigger with it:
-- an insert without email_verified takes is_verified, one with it sets is_verified; an update that sets
-- email_verified sets is_verified to it; any other update (v1.2.2's is_verified, or other columns) copies
-- is_verified into email_verified. So a user who signs up on v1.2.3 and verifies through v1.2.2 ends verified in both.
SET lock_timeout = '5s';
SET statement_timeout = '60s';
CREATE OR REPLACE FUNCTION users_email_verified_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.email_verified IS NULL THEN
        NEW.email_verified := NEW.is_verified;
    ELSIF TG_OP = 'INSERT' THEN
        NEW.is_verified := NEW.email_verified;
    ELSIF NEW.email_verified IS DISTINCT FROM OLD.email_verified AND NEW.email_verified IS NOT NULL THEN
        NEW.is_verified := NEW.email_verified;
    ELSIF NEW.is_verified IS NULL THEN
        -- Only while the contract's down file refills is_verified.
        NEW.is_verified := NEW.email_verified;
    ELSE
        NEW.email_verified := NEW.is_verified;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS users_email_verified_sync ON users;
CREATE TRIGGER users_email_verified_sync BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_email_verified_sync();

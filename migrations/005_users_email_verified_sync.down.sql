-- returns-to-version: v1.2.2 (with v1.2.2 and v1.2.3 both writing, nothing would keep the columns equal)
SET lock_timeout = '5s';
SET statement_timeout = '60s';
DROP TRIGGER IF EXISTS users_email_verified_sync ON users;
DROP FUNCTION IF EXISTS users_email_verified_sync();

SET lock_timeout = '5s';
SET statement_timeout = '10min';
ALTER TABLE users ADD COLUMN IF NOT EXISTS is_verified boolean NOT NULL DEFAULT false;
UPDATE users SET is_verified = email_verified;
ALTER TABLE users ALTER COLUMN email_verified DROP DEFAULT;

#!/bin/sh
# Dumps the database in custom format (compressed) and uploads it under a timestamped key:
#   s3://$BACKUP_BUCKET/$BACKUP_PREFIX/<UTC timestamp>-<label>.dump
# Fails, with the reason on stderr, when the dump fails, is empty or unreadable, or the upload fails.
# Env: DATABASE_URL, BACKUP_BUCKET, BACKUP_PREFIX, BACKUP_LABEL (default "scheduled": pre-deploy-<version>,
# pre-down-<version>). The schema deploy_log, where the release's scripts record restores and down migrations, is
# left out: a restore must never bring back an older record. The dump holds the database-change lock shared, so it
# waits for a running migration or restore, and they wait for it.
set -eu
: "${DATABASE_URL:?DATABASE_URL is not set}" "${BACKUP_BUCKET:?BACKUP_BUCKET is not set}" "${BACKUP_PREFIX:?BACKUP_PREFIX is not set}"
fail() { echo "backup FAILED: $*" >&2; exit 1; }
label="${BACKUP_LABEL:-scheduled}"
work=$(mktemp -d "${TMPDIR:-/tmp}/backup.XXXXXX")
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/pg-lib.sh"
pg_connect "$DATABASE_URL"
file="$work/backup.dump"

hold_lock shared 0 || fail "could not take the database-change lock"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
key="$BACKUP_PREFIX/$stamp-$label.dump"
pg_dump --format=custom --compress=6 --no-owner --no-privileges --exclude-schema=deploy_log --file="$file" \
    || fail "pg_dump exited with $?"
release_lock
[ -s "$file" ] || fail "pg_dump wrote an empty file"
pg_restore --list "$file" >/dev/null || fail "the dump cannot be read back by pg_restore"
aws s3 cp --only-show-errors "$file" "s3://$BACKUP_BUCKET/$key" || fail "upload to s3://$BACKUP_BUCKET/$key failed"
echo "backup: wrote s3://$BACKUP_BUCKET/$key ($(wc -c <"$file") bytes)"

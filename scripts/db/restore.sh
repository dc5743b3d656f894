#!/bin/sh
# Restores one dump into the database, replacing what is there, in a single transaction: on any error nothing changes.
# Env: DATABASE_URL, BACKUP_BUCKET, BACKUP_PREFIX, RESTORE_KEY (the object key), S3_ENDPOINT (tests only).
set -eu
: "${DATABASE_URL:?DATABASE_URL is not set}" "${BACKUP_BUCKET:?BACKUP_BUCKET is not set}" "${RESTORE_KEY:?RESTORE_KEY is not set}"
BACKUP_PREFIX="${BACKUP_PREFIX:-}"
fail() { echo "restore FAILED: $*" >&2; exit 1; }
. "$(dirname "$0")/dump-lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/restore.XXXXXX")
trap 'rm -rf "$work"' EXIT

fetch_dump "$RESTORE_KEY" "$work/restore.dump"
restore_dump "$DATABASE_URL" "$work/restore.dump" || fail "pg_restore of $RESTORE_KEY failed; the database is unchanged"
echo "restore: $RESTORE_KEY restored"

#!/bin/sh
# Restores one dump over the database, replacing what is there, once per key:
#   1. refuses unless a backup labelled pre-restore-<hash of the key> exists under $BACKUP_PREFIX: the fresh copy of
#      what this restore overwrites, taken by the Job that runs before this one;
#   2. does nothing, successfully, when deploy_log.restores records the key and run, or the marker object
#      $RESTORE_MARKER_KEY exists: a stale database.restore.key, or a Job re-created by an unrelated edit, never
#      restores again (database.restore.run counts deliberate re-applications);
#   3. otherwise restores and records the key and run in one transaction: on any error nothing changes, and of two
#      runs at once the second fails on the record's primary key instead of restoring twice; then writes the marker
#      (a put: the backup identity may not delete).
# deploy_log lives beside the app's schema, out of every dump (backup.sh leaves it out), so --clean never drops it
# and a restore never brings back an older record.
# Env: DATABASE_URL, BACKUP_BUCKET, BACKUP_PREFIX, RESTORE_KEY (the object key), RESTORE_RUN (default 1),
# RESTORE_MARKER_KEY (optional), MIGRATION_OWNER_ROLE (optional: the
# role that owns the schema, taken with SET ROLE).
set -eu
: "${DATABASE_URL:?DATABASE_URL is not set}" "${BACKUP_BUCKET:?BACKUP_BUCKET is not set}" "${BACKUP_PREFIX:?BACKUP_PREFIX is not set}" \
    "${RESTORE_KEY:?RESTORE_KEY is not set}"
run="${RESTORE_RUN:-1}"
if [ -n "${MIGRATION_OWNER_ROLE:-}" ]; then export PGOPTIONS="${PGOPTIONS:-} -c role=$MIGRATION_OWNER_ROLE"; fi
fail() { echo "restore FAILED: $*" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/restore.XXXXXX")
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/dump-lib.sh"
psql_run() { psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" "$@"; }

label="pre-restore-$(printf %s "$RESTORE_KEY" | sha256sum | cut -c1-10)"
backup=$(newest_dump "$label")
[ -n "$backup" ] || fail "no backup labelled $label under s3://$BACKUP_BUCKET/$BACKUP_PREFIX/: a restore runs only after the backup of what it replaces succeeded"

psql_run -c "CREATE SCHEMA IF NOT EXISTS deploy_log" \
    -c "CREATE TABLE IF NOT EXISTS deploy_log.restores (key text NOT NULL, run integer NOT NULL, backup_key text NOT NULL, restored_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (key, run))" \
    || fail "cannot create deploy_log.restores"
done_at=$(psql_run -v key="$RESTORE_KEY" -v run="$run" -f - <<'SQL'
SELECT restored_at FROM deploy_log.restores WHERE key = :'key' AND run = :'run';
SQL
) || fail "cannot read deploy_log.restores"
if [ -z "$done_at" ] && [ -n "${RESTORE_MARKER_KEY:-}" ] && aws s3api head-object --bucket "$BACKUP_BUCKET" --key "$RESTORE_MARKER_KEY" >/dev/null 2>&1; then
    done_at="the time in s3://$BACKUP_BUCKET/$RESTORE_MARKER_KEY"
fi
if [ -n "$done_at" ]; then
    echo "restore: $RESTORE_KEY (run $run) was already restored at $done_at; nothing done (unset database.restore.key)"
    exit 0
fi

fetch_dump "$RESTORE_KEY" "$work/restore.dump"
pg_restore --clean --if-exists --no-owner --no-privileges --file="$work/restore.sql" "$work/restore.dump" || fail "cannot read $RESTORE_KEY"
printf '%s\n' "INSERT INTO deploy_log.restores (key, run, backup_key) VALUES (:'key', :'run', :'backup');" >"$work/record.sql"
psql_run --single-transaction -v key="$RESTORE_KEY" -v run="$run" -v backup="$backup" -f "$work/record.sql" -f "$work/restore.sql" >/dev/null \
    || fail "pg_restore of $RESTORE_KEY failed; the database is unchanged"
if [ -n "${RESTORE_MARKER_KEY:-}" ]; then
    printf '{"key": "%s", "run": %s, "backup": "%s", "restoredAt": "%s"}\n' "$RESTORE_KEY" "$run" "$backup" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/marker.json"
    aws s3 cp --only-show-errors "$work/marker.json" "s3://$BACKUP_BUCKET/$RESTORE_MARKER_KEY" || fail "restored, but could not write s3://$BACKUP_BUCKET/$RESTORE_MARKER_KEY"
fi
echo "restore: $RESTORE_KEY restored and recorded in deploy_log.restores; the data it replaced is in s3://$BACKUP_BUCKET/$backup"

#!/bin/sh
# Restores one dump over the database, replacing what is there, once per key and run:
#   1. does nothing, successfully, when deploy_log.restores records the key and run, or the marker object
#      $RESTORE_MARKER_KEY exists: a stale database.restore.key, or a Job re-created by an unrelated edit, never
#      restores again (database.restore.run counts deliberate re-applications);
#   2. downloads the dump, then takes the database-change lock (waiting for a running backup or migration);
#   3. fences the app: revokes the app role's membership in the role that holds CONNECT on the database, so no new
#      session of the app's gets in, and ends the app role's sessions; from here the app's writes are refused, and
#      its clients retry them;
#   4. dumps the database as it is now, labelled pre-restore-<hash of the key>: every write acknowledged before the
#      fence is in that dump;
#   5. restores in one transaction with the record of the key and run, each lock waited for at most
#      $RESTORE_LOCK_TIMEOUT: on any error nothing changes, and of two runs at once the second fails on the record's
#      primary key instead of restoring twice;
#   6. reopens (grants the membership back), whatever happened after the fence, and writes the marker (a put: the
#      restore's identity may not delete).
# deploy_log lives beside the app's schema, out of every dump (backup.sh leaves it out), so --clean never drops it
# and a restore never brings back an older record.
# Env: DATABASE_URL (the migrator's), BACKUP_BUCKET, BACKUP_PREFIX, RESTORE_KEY (the object key), RESTORE_RUN (default
# 1), RESTORE_MARKER_KEY (optional), MIGRATION_OWNER_ROLE (optional: the role that owns the schema, taken with SET
# ROLE), FENCE_APP_ROLE and FENCE_CONNECT_ROLE (the app's login role and the role it reaches the database through),
# RESTORE_LOCK_TIMEOUT (default 10s).
set -eu
: "${DATABASE_URL:?DATABASE_URL is not set}" "${BACKUP_BUCKET:?BACKUP_BUCKET is not set}" "${BACKUP_PREFIX:?BACKUP_PREFIX is not set}" \
    "${RESTORE_KEY:?RESTORE_KEY is not set}" "${FENCE_APP_ROLE:?FENCE_APP_ROLE is not set: a restore fences the app first}" \
    "${FENCE_CONNECT_ROLE:?FENCE_CONNECT_ROLE is not set: a restore fences the app first}"
run="${RESTORE_RUN:-1}"
if [ -n "${MIGRATION_OWNER_ROLE:-}" ]; then export PGOPTIONS="${PGOPTIONS:-} -c role=$MIGRATION_OWNER_ROLE"; fi
fail() { echo "restore FAILED: $*" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/restore.XXXXXX")
fenced_at=""
. "$(dirname "$0")/pg-lib.sh"
. "$(dirname "$0")/dump-lib.sh"
pg_connect "$DATABASE_URL"
psql_run() { psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 "$@"; }
# The fence acts as the migrator itself (SET ROLE NONE; RESET ROLE would return to the owner role its login sets),
# which may end the app role's sessions and grant its membership.
reopen() {
    if psql_run -v app="$FENCE_APP_ROLE" -v connect="$FENCE_CONNECT_ROLE" -f - >/dev/null <<'SQL'; then
SET ROLE NONE;
GRANT :"connect" TO :"app";
SQL
        echo "restore: reopened: $FENCE_APP_ROLE connects again, after $(($(date +%s) - fenced_at)) s fenced"
    else
        echo "restore: COULD NOT REOPEN: the app cannot connect until an admin runs GRANT \"$FENCE_CONNECT_ROLE\" TO \"$FENCE_APP_ROLE\"" >&2
    fi
    fenced_at=""
}
cleanup() {
    [ -z "$fenced_at" ] || reopen
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

label="pre-restore-$(printf %s "$RESTORE_KEY" | sha256sum | cut -c1-10)"
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
hold_lock exclusive 0 || fail "could not take the database-change lock"

fenced_at=$(date +%s)
psql_run -v app="$FENCE_APP_ROLE" -v connect="$FENCE_CONNECT_ROLE" -f - <<'SQL' || fail "could not fence the app role $FENCE_APP_ROLE"
SET ROLE NONE;
REVOKE :"connect" FROM :"app";
SELECT NOT has_database_privilege(:'app', current_database(), 'CONNECT') AS fenced \gset
\if :fenced
\else
DO $$ BEGIN RAISE EXCEPTION 'the app role can still connect: it holds CONNECT on the database other than through its connect role'; END $$;
\endif
SQL
rounds=0
while :; do
    left=$(psql_run -v app="$FENCE_APP_ROLE" -f - <<'SQL'
SET ROLE NONE;
SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE usename = :'app' AND datname = current_database();
SQL
) || fail "could not end the app role's sessions"
    [ "$left" = 0 ] && break
    rounds=$((rounds + 1))
    [ "$rounds" -lt 20 ] || fail "sessions of $FENCE_APP_ROLE are still open after $rounds rounds of ending them"
done
echo "restore: fenced: $FENCE_APP_ROLE cannot connect and has no session left"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
backup="$BACKUP_PREFIX/$stamp-$label.dump"
pg_dump --format=custom --compress=6 --no-owner --no-privileges --exclude-schema=deploy_log --file="$work/before.dump" || fail "the pre-restore pg_dump failed"
pg_restore --list "$work/before.dump" >/dev/null || fail "the pre-restore dump cannot be read back"
aws s3 cp --only-show-errors "$work/before.dump" "s3://$BACKUP_BUCKET/$backup" || fail "could not upload the pre-restore dump to s3://$BACKUP_BUCKET/$backup"
echo "restore: wrote s3://$BACKUP_BUCKET/$backup ($(wc -c <"$work/before.dump") bytes), the database as the fence found it, $(($(date +%s) - fenced_at)) s into the fence"
rm -f "$work/before.dump"

cat >"$work/record.sql" <<'SQL'
BEGIN;
INSERT INTO deploy_log.restores (key, run, backup_key) VALUES (:'key', :'run', :'backup');
\unset key
\unset run
\unset backup
SQL
stream() {
    { restore_script "$work/restore.dump" || : >"$work/stream.failed"; } | bounded_locks
    [ -e "$work/stream.failed" ] || printf 'COMMIT;\n'
}
attempt=1
while :; do
    rm -f "$work/stream.failed"
    if stream | psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -v key="$RESTORE_KEY" -v run="$run" -v backup="$backup" \
        -f "$work/record.sql" -f - >/dev/null 2>"$work/restore.err"; then
        break
    fi
    cat "$work/restore.err" >&2
    grep -q 55P03 "$work/restore.err" && [ "$attempt" -lt 3 ] || fail "pg_restore of $RESTORE_KEY failed; the database is unchanged"
    echo "restore: a lock was not free within ${RESTORE_LOCK_TIMEOUT:-10s} (attempt $attempt); holders: $(lock_holders)"
    sleep $((attempt * 5))
    attempt=$((attempt + 1))
done
[ ! -e "$work/stream.failed" ] || fail "pg_restore could not read $RESTORE_KEY; the database is unchanged"
recorded=$(psql_run -v key="$RESTORE_KEY" -v run="$run" -f - <<'SQL'
SELECT count(*) FROM deploy_log.restores WHERE key = :'key' AND run = :'run';
SQL
) || fail "cannot read deploy_log.restores after the restore"
[ "$recorded" = 1 ] || fail "the restore of $RESTORE_KEY did not commit; the database is unchanged"
reopen
release_lock
if [ -n "${RESTORE_MARKER_KEY:-}" ]; then
    printf '{"key": "%s", "run": %s, "backup": "%s", "restoredAt": "%s"}\n' "$RESTORE_KEY" "$run" "$backup" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/marker.json"
    aws s3 cp --only-show-errors "$work/marker.json" "s3://$BACKUP_BUCKET/$RESTORE_MARKER_KEY" || fail "restored, but could not write s3://$BACKUP_BUCKET/$RESTORE_MARKER_KEY"
fi
echo "restore: $RESTORE_KEY restored and recorded in deploy_log.restores; the data it replaced is in s3://$BACKUP_BUCKET/$backup"

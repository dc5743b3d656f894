#!/bin/sh
# The restore drill: restores the newest dump (or $RESTORE_KEY) into the scratch database, which the drill role owns,
# the way restore.sh restores over the app's database, checks it, and empties the scratch copy again whatever the
# outcome (no copy of production data is left behind). It fails wherever the production restore would, and when
# backups have stopped:
# - when the newest dump is older than $DRILL_MAX_AGE_SECONDS (twice the backup schedule's longest gap), or keys are
#   dated in the future (a wrong clock or a copy by hand: they would sort after every real dump);
# - when an object in the dump belongs to another role than $SCHEMA_OWNER_ROLE: restore.sh, acting as that role,
#   could not drop it ("must be owner of ...");
# - when the dump does not restore, restored once into the empty database and then once more over that copy
#   (--clean over existing objects, as in production), with extensions created if missing, never dropped;
# - when the restore holds no table, or $DRILL_CHECK_SQL returns no row or a zero.
# Env: DRILL_DATABASE_URL (the scratch database), BACKUP_BUCKET, BACKUP_PREFIX, DRILL_CHECK_SQL,
# DRILL_MAX_AGE_SECONDS (optional), SCHEMA_OWNER_ROLE (optional), RESTORE_KEY (optional).
set -eu
: "${DRILL_DATABASE_URL:?DRILL_DATABASE_URL is not set}" "${BACKUP_BUCKET:?BACKUP_BUCKET is not set}" "${BACKUP_PREFIX:?BACKUP_PREFIX is not set}"
fail() { echo "restore drill FAILED: $*" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/drill.XXXXXX")
. "$(dirname "$0")/pg-lib.sh"
. "$(dirname "$0")/dump-lib.sh"
pg_connect "$DRILL_DATABASE_URL"
q() { psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 -c "$1"; }
# Everything the restore created belongs to the drill role: dropping what it owns empties the copy.
trap 'q "DROP OWNED BY CURRENT_USER" >/dev/null 2>&1 || echo "restore drill: could not empty the scratch database" >&2; rm -rf "$work"' EXIT

key="${RESTORE_KEY:-}"
if [ -z "$key" ]; then
    key=$(newest_dump)
    [ -n "$key" ] || fail "no dump found under s3://$BACKUP_BUCKET/$BACKUP_PREFIX/"
    [ ! -s "$work/future" ] || fail "keys dated in the future, which sort after every real dump: $(tr '\n' ' ' <"$work/future")"
    age=$(($(date -u +%s) - $(key_epoch "$key")))
    if [ -n "${DRILL_MAX_AGE_SECONDS:-}" ] && [ "$age" -gt "$DRILL_MAX_AGE_SECONDS" ]; then
        fail "the newest dump, $key, is $age s old, more than $DRILL_MAX_AGE_SECONDS s: backups have stopped"
    fi
fi
fetch_dump "$key" "$work/drill.dump"
if [ -n "${SCHEMA_OWNER_ROLE:-}" ]; then
    foreign_owners "$work/drill.dump" "$SCHEMA_OWNER_ROLE" >"$work/foreign"
    [ ! -s "$work/foreign" ] || fail "the production restore would fail: these objects belong to another role than $SCHEMA_OWNER_ROLE, so it cannot drop them; hand them over (README, Ownership model): $(tr '\n' ';' <"$work/foreign")"
fi
for pass in "into the empty database" "over the restored copy"; do
    rm -f "$work/stream.failed"
    { restore_script "$work/drill.dump" || : >"$work/stream.failed"; } | bounded_locks |
        psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --single-transaction -f - >/dev/null || fail "restoring $key $pass failed"
    # A stream cut short would have been committed as far as it went: only a scratch copy, but the drill fails.
    [ ! -e "$work/stream.failed" ] || fail "pg_restore cannot read $key"
done
tables=$(q "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')") || fail "cannot query the scratch database"
[ "$tables" -gt 0 ] || fail "the restored database holds no table"
if [ -n "${DRILL_CHECK_SQL:-}" ]; then
    result=$(q "$DRILL_CHECK_SQL") || fail "check query failed: $DRILL_CHECK_SQL"
    case "$result" in
        "" | 0 | f | false) fail "check query returned '${result}': $DRILL_CHECK_SQL" ;;
    esac
fi
echo "restore drill: restored $key twice ($tables tables); check returned '${result:-not run}'; emptying the scratch database"

#!/bin/sh
# The restore drill: restores the newest dump (or $RESTORE_KEY) into the scratch database, which the drill role owns,
# checks it, and empties the scratch copy again whatever the outcome (no copy of production data is left behind).
# Fails when the dump is missing, empty or does not restore, when the restore holds no table, or when
# $DRILL_CHECK_SQL returns no row or a zero.
# Env: DRILL_DATABASE_URL (the scratch database), BACKUP_BUCKET, BACKUP_PREFIX, DRILL_CHECK_SQL.
set -eu
: "${DRILL_DATABASE_URL:?DRILL_DATABASE_URL is not set}" "${BACKUP_BUCKET:?BACKUP_BUCKET is not set}" "${BACKUP_PREFIX:?BACKUP_PREFIX is not set}"
fail() { echo "restore drill FAILED: $*" >&2; exit 1; }
q() { psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 --dbname="$DRILL_DATABASE_URL" -c "$1"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/drill.XXXXXX")
# Everything the restore created belongs to the drill role: dropping what it owns empties the copy.
trap 'q "DROP OWNED BY CURRENT_USER" >/dev/null 2>&1 || echo "restore drill: could not empty the scratch database" >&2; rm -rf "$work"' EXIT
. "$(dirname "$0")/dump-lib.sh"

fetch_dump "${RESTORE_KEY:-}" "$work/drill.dump"
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error --dbname="$DRILL_DATABASE_URL" "$work/drill.dump" \
    || fail "pg_restore into the scratch database failed"
tables=$(q "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')") || fail "cannot query the scratch database"
[ "$tables" -gt 0 ] || fail "the restored database holds no table"
if [ -n "${DRILL_CHECK_SQL:-}" ]; then
    result=$(q "$DRILL_CHECK_SQL") || fail "check query failed: $DRILL_CHECK_SQL"
    case "$result" in
        "" | 0 | f | false) fail "check query returned '${result}': $DRILL_CHECK_SQL" ;;
    esac
fi
echo "restore drill: restored $tables tables; check returned '${result:-not run}'; emptying the scratch database"

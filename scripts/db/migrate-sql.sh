#!/bin/sh
# Applies the release's SQL migrations, or rolls the newest back.
#   migrate-sql.sh up          apply every NNN_name.up.sql in $MIGRATIONS_DIR not yet recorded, in name order
#   migrate-sql.sh down [N]    run the down files of the newest N applied migrations (default 1), newest first
# Each file runs in one transaction together with its schema_migrations record, unless it carries the line
# "-- migrate:no-transaction" (CREATE INDEX CONCURRENTLY cannot run inside one).
# Env: DATABASE_URL, MIGRATIONS_DIR.
set -eu
: "${DATABASE_URL:?DATABASE_URL is not set}" "${MIGRATIONS_DIR:?MIGRATIONS_DIR is not set}"
direction="${1:-up}"
steps="${2:-1}"
fail() { echo "migration FAILED: $*" >&2; exit 1; }
psql_run() { psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" "$@"; }
applied() { [ -n "$(psql_run --tuples-only --no-align -c "SELECT 1 FROM schema_migrations WHERE version = '$1'")" ]; }

# run FILE RECORD_SQL: the file and its bookkeeping, atomically where the file allows.
run() {
    if grep -q '^-- *migrate:no-transaction *$' "$1"; then
        psql_run -f "$1" && psql_run -c "$2"
    else
        psql_run --single-transaction -f "$1" -c "$2"
    fi
}

psql_run -c "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"

case "$direction" in
up)
    count=0
    for file in $(ls "$MIGRATIONS_DIR" | grep -E '^[0-9]{3}_[a-z0-9_]+\.up\.sql$' | sort); do
        version="${file%.up.sql}"
        if applied "$version"; then continue; fi
        echo "migration: applying $version"
        run "$MIGRATIONS_DIR/$file" "INSERT INTO schema_migrations (version) VALUES ('$version')" || fail "$version did not apply"
        count=$((count + 1))
    done
    echo "migration: $count applied"
    ;;
down)
    count=0
    for file in $(ls "$MIGRATIONS_DIR" | grep -E '^[0-9]{3}_[a-z0-9_]+\.down\.sql$' | sort -r); do
        [ "$count" -lt "$steps" ] || break
        version="${file%.down.sql}"
        applied "$version" || continue
        echo "migration: rolling back $version"
        run "$MIGRATIONS_DIR/$file" "DELETE FROM schema_migrations WHERE version = '$version'" || fail "$version did not roll back"
        count=$((count + 1))
    done
    echo "migration: $count rolled back"
    ;;
*)
    fail "unknown direction '$direction': use up or down"
    ;;
esac

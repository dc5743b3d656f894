#!/bin/sh
# Applies the release's SQL migrations, or rolls the newest back.
#   migrate-sql.sh up          apply every NNN_name.up.sql in $MIGRATIONS_DIR not yet recorded, in name order
#   migrate-sql.sh down [N]    run the down files of the newest N applied migrations (default 1), newest first
# The whole run is one psql session holding an advisory lock, and each "is it applied?" check runs inside it: two
# runs at once (a retried Job, a run by hand) take turns, and the second finds the first one's work recorded.
# Each file runs in one transaction together with its schema_migrations record, unless it carries the line
# "-- migrate:no-transaction" (CREATE INDEX CONCURRENTLY, batched backfills). For those, an INVALID index that an
# earlier failed CREATE INDEX CONCURRENTLY left under a name the file creates is dropped first (IF NOT EXISTS would
# keep it), and every such index must be valid (pg_index.indisvalid) before the file is recorded.
# Env: DATABASE_URL, MIGRATIONS_DIR, MIGRATION_OWNER_ROLE (optional: the role that owns the schema, taken with
# SET ROLE for the whole session).
set -eu
: "${DATABASE_URL:?DATABASE_URL is not set}" "${MIGRATIONS_DIR:?MIGRATIONS_DIR is not set}"
direction="${1:-up}"
steps="${2:-1}"
fail() { echo "migration FAILED: $*" >&2; exit 1; }
case "$direction" in up | down) ;; *) fail "unknown direction '$direction': use up or down" ;; esac
case "$steps" in "" | *[!0-9]*) fail "down takes a number of migrations, got '$steps'" ;; esac
if [ -n "${MIGRATION_OWNER_ROLE:-}" ]; then export PGOPTIONS="${PGOPTIONS:-} -c role=$MIGRATION_OWNER_ROLE"; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/migrate.XXXXXX")
trap 'rm -rf "$work"' EXIT
plan="$work/plan.sql"
# printf, not echo: dash's echo would read the backslash of psql's meta-commands as an escape.
say() { printf '%s\n' "$*"; }

# Names of the indexes a file builds CONCURRENTLY, one a line.
concurrent_indexes() {
    sed -n -E 's/^[[:space:]]*CREATE[[:space:]]+(UNIQUE[[:space:]]+)?INDEX[[:space:]]+CONCURRENTLY[[:space:]]+(IF[[:space:]]+NOT[[:space:]]+EXISTS[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*).*/\3/Ip' "$1"
}

# step VERSION FILE RECORD_SQL: runs one file and its bookkeeping.
step() {
    if grep -q '^-- *migrate:no-transaction *$' "$2"; then
        indexes=$(concurrent_indexes "$2")
        for index in $indexes; do
            cat <<SQL
SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('$index') AND NOT indisvalid) AS invalid \gset
\if :invalid
\echo migration: dropping INVALID index $index left by an earlier attempt, to build it again
DROP INDEX CONCURRENTLY IF EXISTS $index;
\endif
SQL
        done
        say "\\i $2"
        if [ -n "$indexes" ]; then
            list=$(printf "'%s'," $indexes)
            cat <<SQL
DO \$\$
DECLARE bad text;
BEGIN
    SELECT string_agg(n, ', ') INTO bad FROM unnest(ARRAY[${list%,}]) AS n
      LEFT JOIN pg_index ON indexrelid = to_regclass(n) WHERE indisvalid IS NOT TRUE;
    IF bad IS NOT NULL THEN RAISE EXCEPTION 'index % missing or INVALID after $1', bad; END IF;
END
\$\$;
SQL
        fi
        say "$3"
    else
        printf 'BEGIN;\n\\i %s\n%s\nCOMMIT;\n' "$2" "$3"
    fi
    # A file's SETs (statement_timeout, lock_timeout) end with it; RESET ALL keeps the role.
    say "RESET ALL;"
}

{
    say '\set ON_ERROR_STOP 1'
    say "SELECT pg_advisory_lock(hashtext('migrate-sql.sh schema_migrations')) AS locked \\gset"
    say "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
    say "SELECT 0 AS done \\gset"
    if [ "$direction" = up ]; then
        for file in $(ls "$MIGRATIONS_DIR" | grep -E '^[0-9]{3}_[a-z0-9_]+\.up\.sql$' | LC_ALL=C sort); do
            version="${file%.up.sql}"
            say "SELECT NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = '$version') AS todo \\gset"
            say '\if :todo'
            say "\\echo migration: applying $version"
            step "$version" "$MIGRATIONS_DIR/$file" "INSERT INTO schema_migrations (version) VALUES ('$version');"
            say 'SELECT :done + 1 AS done \gset'
            say '\endif'
        done
        say '\echo migration: :done applied'
    else
        for file in $(ls "$MIGRATIONS_DIR" | grep -E '^[0-9]{3}_[a-z0-9_]+\.down\.sql$' | LC_ALL=C sort -r); do
            version="${file%.down.sql}"
            say "SELECT :done < $steps AND EXISTS (SELECT 1 FROM schema_migrations WHERE version = '$version') AS todo \\gset"
            say '\if :todo'
            say "\\echo migration: rolling back $version"
            step "$version" "$MIGRATIONS_DIR/$file" "DELETE FROM schema_migrations WHERE version = '$version';"
            say 'SELECT :done + 1 AS done \gset'
            say '\endif'
        done
        say '\echo migration: :done rolled back'
    fi
} >"$plan"

if psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" -f "$plan" >"$work/out"; then
    cat "$work/out"
else
    cat "$work/out"
    version=$(sed -n -E 's/^migration: (applying|rolling back) //p' "$work/out" | tail -n 1)
    if [ -z "$version" ]; then fail "could not start: see the error above"; fi
    [ "$direction" = up ] && fail "$version did not apply"
    fail "$version did not roll back"
fi

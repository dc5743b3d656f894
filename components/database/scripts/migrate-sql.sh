#!/bin/sh
# Applies the release's SQL migrations, or rolls named ones back.
#   migrate-sql.sh up                 apply every NNN_name.up.sql in $MIGRATIONS_DIR not yet recorded, in name order
#   migrate-sql.sh down VERSION...    run the down files of these migrations, newest first
# The whole run is one psql session holding the database-change advisory lock (pg-lib.sh), and each "is it
# applied?" check runs inside it: two runs at once (a retried Job, a run by hand) take turns, and the second finds the
# first one's work recorded; a backup (which holds the lock shared) or a restore is never overlapped.
# Each file runs in one transaction together with its schema_migrations record, unless it carries the line
# "-- migrate:no-transaction" (CREATE INDEX CONCURRENTLY, batched backfills). For those, an INVALID index that an
# earlier failed CREATE INDEX CONCURRENTLY left under a name the file creates is dropped first (IF NOT EXISTS would
# keep it), and every such index must be valid (pg_index.indisvalid) before the file is recorded.
# A lock not granted within a file's lock_timeout (SQLSTATE 55P03: a long transaction, or a dump's snapshot, in the
# way) fails the run; the runner runs it again after a pause (5 s, doubling up to 60 s) until $LOCK_RETRY_SECONDS
# have passed. Files already recorded are skipped, so each retry resumes where the last one stopped.
# The server checks every 10 s that this client is still there (client_connection_check_interval): when the pod is
# killed (its deadline, an eviction), its statement is cancelled and its session, with the lock, ends.
# Down migrations are bound to the release they were run for: each is recorded in deploy_log.migration_downs with
# $MIGRATION_RELEASE and $MIGRATION_ATTEMPT, and an "up" of the same release and attempt does not apply it again
# (nor any later file): re-applying takes a new attempt.
# Env: DATABASE_URL, MIGRATIONS_DIR, MIGRATION_OWNER_ROLE (optional: the role that owns the schema, taken with
# SET ROLE for the whole session), MIGRATION_SCHEMAS (optional, comma-separated: with MIGRATION_OWNER_ROLE, every
# object in them must belong to that role before anything runs), MIGRATION_RELEASE and MIGRATION_ATTEMPT (default
# "unknown" and 1), LOCK_RETRY_SECONDS (default 300).
set -eu
: "${DATABASE_URL:?DATABASE_URL is not set}" "${MIGRATIONS_DIR:?MIGRATIONS_DIR is not set}"
direction="${1:-up}"
[ "$#" -eq 0 ] || shift
fail() { echo "migration FAILED: $*" >&2; exit 1; }
case "$direction" in up | down) ;; *) fail "unknown direction '$direction': use up or down" ;; esac
[ "$direction" = up ] || [ "$#" -gt 0 ] || fail "down takes the versions to roll back, newest first"
for v in "$@"; do
    [ -f "$MIGRATIONS_DIR/$v.down.sql" ] || fail "no down file for $v in $MIGRATIONS_DIR"
done
release="${MIGRATION_RELEASE:-unknown}"
attempt="${MIGRATION_ATTEMPT:-1}"
case "$attempt" in "" | *[!0-9]*) fail "MIGRATION_ATTEMPT must be a number, got '$attempt'" ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/migrate.XXXXXX")
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/pg-lib.sh"
pg_connect "$DATABASE_URL"
export PGOPTIONS="${PGOPTIONS:-} -c client_connection_check_interval=10s"
if [ -n "${MIGRATION_OWNER_ROLE:-}" ]; then export PGOPTIONS="$PGOPTIONS -c role=$MIGRATION_OWNER_ROLE"; fi
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
    say '\set VERBOSITY verbose'
    # Wait for the lock a while at a time: a timeout is retried like any other lock wait.
    say "SET lock_timeout = '30s';"
    say "SELECT pg_advisory_lock($LOCK_KEY) AS locked \\gset"
    say "RESET lock_timeout;"
    if [ -n "${MIGRATION_OWNER_ROLE:-}" ] && [ -n "${MIGRATION_SCHEMAS:-}" ]; then
        cat <<SQL
SELECT string_agg(format('%s %s (owner %s)', kind, name, owner), ', ') AS foreign_objects FROM (
    SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'table' END AS kind,
           c.oid::regclass::text AS name, pg_get_userbyid(c.relowner) AS owner
      FROM pg_class c
     WHERE c.relnamespace::regnamespace::text = ANY (string_to_array('$MIGRATION_SCHEMAS', ','))
       AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT pg_has_role(current_user, c.relowner, 'USAGE')
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text, pg_get_userbyid(p.proowner) FROM pg_proc p
     WHERE p.pronamespace::regnamespace::text = ANY (string_to_array('$MIGRATION_SCHEMAS', ','))
       AND NOT pg_has_role(current_user, p.proowner, 'USAGE')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'type', t.oid::regtype::text, pg_get_userbyid(t.typowner) FROM pg_type t
     WHERE t.typnamespace::regnamespace::text = ANY (string_to_array('$MIGRATION_SCHEMAS', ','))
       AND t.typtype IN ('e', 'd', 'r', 'm') AND NOT pg_has_role(current_user, t.typowner, 'USAGE')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
) foreign_objects \gset
\if :{?foreign_objects}
\warn migration: these objects do not belong to $MIGRATION_OWNER_ROLE, so the migrator cannot change them: :foreign_objects
DO \$\$ BEGIN RAISE EXCEPTION 'hand them over first: run the ownershipHandoverSql output as the admin (README: Adopting an existing database)'; END \$\$;
\endif
SQL
    fi
    say "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
    cat <<'SQL'
-- Only the table's owner (the migrator acting as it) writes the record: the app role's grants on every table of the
-- schema reach this one too.
CREATE OR REPLACE FUNCTION schema_migrations_owner_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RAISE EXCEPTION 'only the owner of schema_migrations writes it, not %', current_user USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER schema_migrations_owner_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON schema_migrations
    FOR EACH STATEMENT EXECUTE FUNCTION schema_migrations_owner_only();
CREATE SCHEMA IF NOT EXISTS deploy_log;
CREATE TABLE IF NOT EXISTS deploy_log.migration_downs (version text NOT NULL, release text NOT NULL, attempt integer NOT NULL,
    rolled_back_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (version, release, attempt));
SQL
    say "SELECT 0 AS done \\gset"
    say "SELECT false AS held \\gset"
    if [ "$direction" = up ]; then
        for file in $(ls "$MIGRATIONS_DIR" | grep -E '^[0-9]{3}_[a-z0-9_]+\.up\.sql$' | LC_ALL=C sort); do
            version="${file%.up.sql}"
            say "SELECT NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = '$version') AS todo \\gset"
            say '\if :todo'
            say "SELECT :'held'::boolean OR EXISTS (SELECT 1 FROM deploy_log.migration_downs WHERE version = '$version' AND release = :'release' AND attempt >= :attempt) AS held \\gset"
            say '\if :held'
            say "\\echo migration: $version not applied: the down migration of release :release (attempt :attempt) rolled back $version or an earlier file; raise database.migration.attempt to apply again"
            say '\else'
            say "\\echo migration: applying $version"
            step "$version" "$MIGRATIONS_DIR/$file" "INSERT INTO schema_migrations (version) VALUES ('$version');"
            say 'SELECT :done + 1 AS done \gset'
            say '\endif'
            say '\endif'
        done
        say '\echo migration: :done applied'
    else
        newest_listed="$1"
        cat <<SQL
SELECT string_agg(version, ', ' ORDER BY version) AS newer FROM schema_migrations WHERE version > '$newest_listed' \\gset
\\if :{?newer}
SELECT :'newer' IS NOT NULL AS blocked \\gset
\\else
SELECT false AS blocked \\gset
\\endif
\\if :blocked
\\warn migration: applied migrations newer than $newest_listed must be rolled back first: :newer
DO \$\$ BEGIN RAISE EXCEPTION 'down migration stopped'; END \$\$;
\\endif
SQL
        for version in "$@"; do
            cat <<SQL
SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = '$version') AS applied,
       EXISTS (SELECT 1 FROM deploy_log.migration_downs WHERE version = '$version' AND release = :'release' AND attempt = :attempt) AS undone \\gset
\\if :applied
\\echo migration: rolling back $version
SQL
            step "$version" "$MIGRATIONS_DIR/$version.down.sql" "DELETE FROM schema_migrations WHERE version = '$version'; INSERT INTO deploy_log.migration_downs (version, release, attempt) VALUES ('$version', :'release', :attempt) ON CONFLICT DO NOTHING;"
            cat <<SQL
SELECT :done + 1 AS done \\gset
\\elif :undone
\\echo migration: $version was rolled back by the down migration of this release already
\\else
\\warn migration: $version is not applied, so there is nothing to roll back: name the phase whose files are applied (database.migration.phase)
DO \$\$ BEGIN RAISE EXCEPTION 'down migration stopped'; END \$\$;
\\endif
SQL
        done
        say '\echo migration: :done rolled back'
    fi
} >"$plan"

started=$(date +%s)
pause=5
while :; do
    if psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -v release="$release" -v attempt="$attempt" -f "$plan" >"$work/out" 2>"$work/err"; then
        cat "$work/out"
        cat "$work/err" >&2
        exit 0
    fi
    cat "$work/out"
    cat "$work/err" >&2
    version=$(sed -n -E 's/^migration: (applying|rolling back) //p' "$work/out" | tail -n 1)
    if grep -q 55P03 "$work/err" && [ $(($(date +%s) - started + pause)) -le "${LOCK_RETRY_SECONDS:-300}" ]; then
        echo "migration: a lock was not granted in time${version:+ in $version}; trying again in $pause s. Holding the database-change lock: $(lock_holders)"
        sleep "$pause"
        pause=$((pause * 2 > 60 ? 60 : pause * 2))
        continue
    fi
    if [ -z "$version" ]; then fail "could not start: see the error above"; fi
    [ "$direction" = up ] && fail "$version did not apply"
    fail "$version did not roll back"
done

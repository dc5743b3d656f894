# Sourced by restore.sh and restore-drill.sh, after pg-lib.sh. Both expect a fail() that prints its arguments and
# exits non-zero, and $work, a scratch folder. The AWS CLI reads its endpoint, region and credentials (IRSA:
# AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, cached under $HOME/.aws/cli/cache) from the environment.

# Keys dated later than now plus this many seconds are future-dated: a clock gone wrong or a copy by hand.
CLOCK_SKEW_SECONDS=300

# key_epoch KEY: the UTC time in a dump's key (<prefix>/<YYYYMMDDTHHMMSSZ>-<label>.dump) as seconds since the epoch.
key_epoch() {
    stamp="${1##*/}"
    date -u -d "$(printf '%s' "$stamp" | sed -E 's/^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z.*/\1-\2-\3 \4:\5:\6/')" +%s
}

# list_dumps [LABEL]: writes the keys under $BACKUP_PREFIX/ named <UTC timestamp>-<label>.dump, with the given label
# or any, oldest first, to $work/dumps, and the future-dated ones among them to $work/future. The CLI pages through
# the listing 1,000 keys at a time and applies --query to each page on its own (aws/aws-cli awscli/formatter.py,
# TextFormatter.__call__), so every key is printed and sorted here: keys start with a UTC timestamp, so lexical
# order is time order.
list_dumps() {
    aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX/" --query 'Contents[].[Key]' --output text \
        >"$work/keys" || fail "cannot list s3://$BACKUP_BUCKET/$BACKUP_PREFIX/"
    grep -E "^$BACKUP_PREFIX/[0-9]{8}T[0-9]{6}Z-${1:-[^/]+}\.dump\$" "$work/keys" | LC_ALL=C sort >"$work/dumps.all" || true
    # Timestamps compare as text: the limit is written the way the keys are.
    limit=$(date -u -d "@$(($(date -u +%s) + CLOCK_SKEW_SECONDS))" +%Y%m%dT%H%M%SZ)
    awk -v limit="$limit" -v prefix="$BACKUP_PREFIX/" -v dumps="$work/dumps" -v future="$work/future" \
        'BEGIN { printf "" > dumps; printf "" > future } { if (substr($0, length(prefix) + 1, 16) > limit) print > future; else print > dumps }' "$work/dumps.all"
}

# newest_dump [LABEL]: prints the newest key list_dumps finds that is not future-dated, or nothing.
newest_dump() {
    list_dumps "${1:-}"
    tail -n 1 "$work/dumps"
}

# download KEY FILE: copies the object to FILE. An object the lifecycle has moved to GLACIER or DEEP_ARCHIVE is
# restored first (Expedited for GLACIER, minutes; Standard for DEEP_ARCHIVE, hours), waiting up to
# $ARCHIVE_WAIT_SECONDS (default 600) for it.
download() {
    aws s3 cp --only-show-errors "s3://$BACKUP_BUCKET/$1" "$2" 2>"$work/cp.err" && return 0
    class=$(aws s3api head-object --bucket "$BACKUP_BUCKET" --key "$1" --query StorageClass --output text 2>/dev/null) || class=""
    case "$class" in
        GLACIER | DEEP_ARCHIVE) ;;
        *) cat "$work/cp.err" >&2 && return 1 ;;
    esac
    tier=Expedited
    [ "$class" = GLACIER ] || tier=Standard
    aws s3api restore-object --bucket "$BACKUP_BUCKET" --key "$1" --restore-request "{\"Days\": 2, \"GlacierJobParameters\": {\"Tier\": \"$tier\"}}" 2>"$work/restore.err" \
        || grep -q RestoreAlreadyInProgress "$work/restore.err" || { cat "$work/restore.err" >&2 && return 1; }
    echo "restore: s3://$BACKUP_BUCKET/$1 is in $class; asked S3 to restore it ($tier tier)"
    waited=0
    until aws s3api head-object --bucket "$BACKUP_BUCKET" --key "$1" --query Restore --output text | grep -q 'ongoing-request="false"'; do
        [ "$waited" -lt "${ARCHIVE_WAIT_SECONDS:-600}" ] || fail "s3://$BACKUP_BUCKET/$1 is still being restored from $class; run the restore again once it is (database.restore.run + 1)"
        sleep 30
        waited=$((waited + 30))
    done
    aws s3 cp --only-show-errors "s3://$BACKUP_BUCKET/$1" "$2"
}

# fetch_dump KEY FILE: downloads s3://$BACKUP_BUCKET/KEY to FILE and checks it is a readable, non-empty dump.
fetch_dump() {
    download "$1" "$2" || fail "cannot download s3://$BACKUP_BUCKET/$1: no such object, or no access"
    [ -s "$2" ] || fail "s3://$BACKUP_BUCKET/$1 is empty"
    pg_restore --list "$2" >/dev/null || fail "s3://$BACKUP_BUCKET/$1 is not a readable pg_dump archive"
    echo "restore: fetched s3://$BACKUP_BUCKET/$1 ($(wc -c <"$2") bytes)"
}

# partition_drops DUMP: a sed script deleting the --clean statements that drop a partition's constraints and indexes:
# PostgreSQL refuses them ("cannot drop inherited constraint"), and dropping the partitioned table's own constraint or
# index drops them anyway. Partitions and their indexes are the dump's TABLE ATTACH and INDEX ATTACH entries.
partition_drops() {
    pg_restore --list "$1" | awk '
        $4 == "TABLE" && $5 == "ATTACH" { printf "/^ALTER TABLE IF EXISTS ONLY %s\\.%s DROP CONSTRAINT IF EXISTS /d\n", $6, $7 }
        $4 == "INDEX" && $5 == "ATTACH" { printf "/^DROP INDEX IF EXISTS %s\\.%s;$/d\n", $6, $7 }'
}

# restore_script DUMP: prints the SQL that restores DUMP over the current database (--clean: what the dump holds is
# dropped first), for psql to run in one transaction:
# - extensions are created if missing (CREATE EXTENSION IF NOT EXISTS, as the dump writes it) and never dropped: an
#   extension belongs to the role that created it, which no ALTER changes, and on RDS that is the admin;
# - pg_restore's "SET lock_timeout = 0" becomes $RESTORE_LOCK_TIMEOUT (default 10s): a DROP that cannot get its lock
#   fails the restore instead of queueing every later query behind it.
# The SQL streams from pg_restore: no plain copy of the dump is written to the scratch volume. Fails when pg_restore
# does, so that the caller can leave out its COMMIT.
restore_script() {
    pg_restore --list "$1" >"$work/toc.all"
    grep -E '^[0-9]+; [0-9]+ [0-9]+ EXTENSION ' "$work/toc.all" >"$work/toc.extensions" || true
    grep -v -E '^[0-9]+; [0-9]+ [0-9]+ (EXTENSION|COMMENT - EXTENSION) ' "$work/toc.all" >"$work/toc.objects"
    if [ -s "$work/toc.extensions" ]; then
        pg_restore --use-list="$work/toc.extensions" --file=- "$1" || return 1
    fi
    partition_drops "$1" >"$work/partitions.sed"
    { pg_restore --clean --if-exists --no-owner --no-privileges --use-list="$work/toc.objects" --file=- "$1" || : >"$work/stream.failed"; } | sed -f "$work/partitions.sed"
    [ ! -e "$work/stream.failed" ]
}

# bounded_locks: rewrites pg_restore's unbounded lock wait in a restore script read on standard input.
bounded_locks() {
    sed "s/^SET lock_timeout = 0;\$/SET lock_timeout = '${RESTORE_LOCK_TIMEOUT:-10s}';/"
}

# foreign_owners DUMP OWNER: prints the dump's objects that another role than OWNER owns, one "TYPE schema name owner"
# a line (the archive records each object's owner even when restored with --no-owner). Extensions, which no ALTER
# hands over, and the public schema, which pg_database_owner owns, are left out.
foreign_owners() {
    pg_restore --list "$1" | grep -v -E '^;|^$' | grep -v -E '^[0-9]+; [0-9]+ [0-9]+ (EXTENSION|COMMENT - EXTENSION) ' |
        awk -v owner="$2" '{ o = $NF; if (o != owner && o != "-" && o != "pg_database_owner" && NF > 5) { $1 = $2 = $3 = ""; sub(/^ +/, ""); print } }'
}

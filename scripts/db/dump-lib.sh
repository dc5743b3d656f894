# Sourced by restore.sh and restore-drill.sh. Both expect a fail() that prints its arguments and exits non-zero.

# fetch_dump KEY FILE: downloads s3://$BACKUP_BUCKET/KEY to FILE and checks it is a readable, non-empty dump. With an
# empty KEY, takes the newest dump under $BACKUP_PREFIX.
fetch_dump() {
    key="$1"
    out="$2"
    s3() { aws ${S3_ENDPOINT:+--endpoint-url "$S3_ENDPOINT"} "$@"; }
    if [ -z "$key" ]; then
        # Keys start with a UTC timestamp, so the last in lexical order is the newest.
        key=$(s3 s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX/" \
            --query 'sort_by(Contents || `[]`, &Key)[-1].Key' --output text) || fail "cannot list s3://$BACKUP_BUCKET/$BACKUP_PREFIX/"
        if [ -z "$key" ] || [ "$key" = "None" ] || [ "$key" = "null" ]; then fail "no dump found under s3://$BACKUP_BUCKET/$BACKUP_PREFIX/"; fi
    fi
    s3 s3 cp --only-show-errors "s3://$BACKUP_BUCKET/$key" "$out" || fail "cannot download s3://$BACKUP_BUCKET/$key: no such object, or no access"
    [ -s "$out" ] || fail "s3://$BACKUP_BUCKET/$key is empty"
    pg_restore --list "$out" >/dev/null || fail "s3://$BACKUP_BUCKET/$key is not a readable pg_dump archive"
    echo "restore: fetched s3://$BACKUP_BUCKET/$key ($(wc -c <"$out") bytes)"
}

# restore_dump URL FILE: replaces what the database at URL holds with the dump, in one transaction, so that on any
# error nothing changes.
restore_dump() {
    pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error --dbname="$1" "$2"
}

# Sourced by restore.sh and restore-drill.sh. Both expect a fail() that prints its arguments and exits non-zero, and
# $work, a scratch folder. The AWS CLI reads its endpoint, region and credentials (IRSA: AWS_ROLE_ARN and
# AWS_WEB_IDENTITY_TOKEN_FILE, cached under $HOME/.aws/cli/cache) from the environment.

# newest_dump [LABEL]: prints the newest key under $BACKUP_PREFIX/ named <UTC timestamp>-<label>.dump, with the given
# label or any, or nothing. The CLI pages through the listing 1,000 keys at a time and applies
# --query to each page on its own (aws/aws-cli awscli/formatter.py, TextFormatter.__call__), so a query such as
# sort_by(...)[-1] would print one "newest" key per page. Every key is printed instead and sorted here: the keys
# start with a UTC timestamp, so the last in lexical order is the newest.
newest_dump() {
    aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX/" --query 'Contents[].[Key]' --output text \
        >"$work/keys" || fail "cannot list s3://$BACKUP_BUCKET/$BACKUP_PREFIX/"
    grep -E "^$BACKUP_PREFIX/[0-9]{8}T[0-9]{6}Z-${1:-[^/]+}\.dump\$" "$work/keys" | LC_ALL=C sort | tail -n 1
}

# fetch_dump KEY FILE: downloads s3://$BACKUP_BUCKET/KEY to FILE and checks it is a readable, non-empty dump. With an
# empty KEY, takes the newest dump under $BACKUP_PREFIX.
fetch_dump() {
    key="$1"
    out="$2"
    if [ -z "$key" ]; then
        key=$(newest_dump)
        [ -n "$key" ] || fail "no dump found under s3://$BACKUP_BUCKET/$BACKUP_PREFIX/"
    fi
    aws s3 cp --only-show-errors "s3://$BACKUP_BUCKET/$key" "$out" || fail "cannot download s3://$BACKUP_BUCKET/$key: no such object, or no access"
    [ -s "$out" ] || fail "s3://$BACKUP_BUCKET/$key is empty"
    pg_restore --list "$out" >/dev/null || fail "s3://$BACKUP_BUCKET/$key is not a readable pg_dump archive"
    echo "restore: fetched s3://$BACKUP_BUCKET/$key ($(wc -c <"$out") bytes)"
}

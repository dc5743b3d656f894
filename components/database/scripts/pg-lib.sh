# Sourced by every database script. Expects a fail() that prints its arguments and exits non-zero, and $work, a
# scratch folder.

# pg_connect URL: points libpq at URL through its environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and
# the URL's parameters), so that psql, pg_dump and pg_restore run with no connection string in their arguments: a
# process's arguments are world-readable (/proc/<pid>/cmdline), its environment is not.
pg_connect() {
    case "$1" in postgres*://*) ;; *) fail "the connection URL must start with postgresql:" ;; esac
    rest="${1#*://}"
    query=""
    case "$rest" in *\?*) query="${rest#*\?}" rest="${rest%%\?*}" ;; esac
    authority="${rest%%/*}"
    dbname=""
    case "$rest" in */*) dbname="${rest#*/}" ;; esac
    userinfo=""
    case "$authority" in *@*) userinfo="${authority%@*}" authority="${authority##*@}" ;; esac
    port=""
    case "$authority" in
        \[*\]:*) port="${authority##*]:}" authority="${authority%:*}" ;;
        \[*) ;;
        *:*) port="${authority##*:}" authority="${authority%:*}" ;;
    esac
    PGHOST=$(pct_decode "$authority" | tr -d '[]')
    PGUSER=$(pct_decode "${userinfo%%:*}")
    PGPASSWORD=""
    case "$userinfo" in *:*) PGPASSWORD=$(pct_decode "${userinfo#*:}") ;; esac
    PGDATABASE=$(pct_decode "$dbname")
    export PGHOST PGUSER PGPASSWORD PGDATABASE
    [ -z "$port" ] || export PGPORT="$port"
    old_ifs="$IFS"
    IFS='&'
    for param in $query; do
        value=$(pct_decode "${param#*=}")
        case "${param%%=*}" in
            sslmode) export PGSSLMODE="$value" ;;
            sslrootcert) export PGSSLROOTCERT="$value" ;;
            sslcert) export PGSSLCERT="$value" ;;
            sslkey) export PGSSLKEY="$value" ;;
            connect_timeout) export PGCONNECT_TIMEOUT="$value" ;;
            application_name) export PGAPPNAME="$value" ;;
            target_session_attrs) export PGTARGETSESSIONATTRS="$value" ;;
            options) export PGOPTIONS="${PGOPTIONS:-} $value" ;;
            *) IFS="$old_ifs" && fail "the connection URL has a parameter these scripts do not pass on: ${param%%=*}" ;;
        esac
    done
    IFS="$old_ifs"
}

# pct_decode TEXT: TEXT with its %XX escapes decoded.
pct_decode() {
    printf '%s' "$1" | awk 'BEGIN { hex = "0123456789abcdef" } {
        out = ""; s = $0
        while (match(s, /%[0-9A-Fa-f][0-9A-Fa-f]/)) {
            out = out substr(s, 1, RSTART - 1) sprintf("%c", (index(hex, tolower(substr(s, RSTART + 1, 1))) - 1) * 16 + index(hex, tolower(substr(s, RSTART + 2, 1))) - 1)
            s = substr(s, RSTART + 3)
        }
        printf "%s", out s
    }'
}

# The advisory lock that keeps database changes apart: a migration or a restore holds it exclusively, a dump shared,
# so a scheduled backup never overlaps a release's migration or restore (a dump's snapshot would hold CREATE INDEX
# CONCURRENTLY until its lock_timeout, and its locks would hold the restore's DROPs).
LOCK_KEY="hashtext('migrate-sql.sh schema_migrations')"

# lock_holders: who holds or waits for the lock, one "pid user (application) since" a line, for the log.
lock_holders() {
    psql --no-psqlrc --quiet --tuples-only --no-align -c "SELECT format('%s %s (%s) %s since %s', a.pid, a.usename, a.application_name, l.mode, a.backend_start)
        FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.granted AND l.objid::bigint = ($LOCK_KEY)::bigint & 4294967295 AND l.objsubid = 1" 2>/dev/null || true
}

# hold_lock shared|exclusive TIMEOUT: takes the lock in a session of its own, waiting at most TIMEOUT (PostgreSQL's
# lock_timeout syntax; 0 waits for ever), and keeps it until release_lock or until this script ends (the session
# ends with the script). Fails when the wait times out.
hold_lock() {
    fn=pg_advisory_lock
    [ "$1" = shared ] && fn=pg_advisory_lock_shared
    holders=$(lock_holders)
    [ -z "$holders" ] || echo "lock: waiting for the sessions holding the database-change lock: $holders"
    rm -f "$work/lock.sql" "$work/locked"
    mkfifo "$work/lock.sql"
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -f "$work/lock.sql" >"$work/lock.out" 2>&1 &
    lock_pid=$!
    # Read-write, so that opening the FIFO does not wait for psql; closing it is psql's end of input.
    exec 9<>"$work/lock.sql"
    printf "SET lock_timeout = '%s';\nSELECT %s(%s);\n\\\\! touch %s\n" "$2" "$fn" "$LOCK_KEY" "$work/locked" >&9
    while [ ! -e "$work/locked" ]; do
        if ! kill -0 "$lock_pid" 2>/dev/null; then
            cat "$work/lock.out" >&2
            return 1
        fi
        sleep 0.2
    done
}

# release_lock: ends the session that holds the lock.
release_lock() {
    exec 9>&-
    wait "$lock_pid" 2>/dev/null || true
}

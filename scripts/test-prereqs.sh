#!/bin/sh
# Installs what the tests run for real, when it is missing: a PostgreSQL server and client (initdb, pg_ctl, psql,
# pg_dump, pg_restore), the AWS CLI that the backup scripts call, R, the judge's statistical oracle (Rscript),
# and jq, which runs the runbook's go/no-go query over a modelled release. Debian packages; needs root to install.
set -eu
missing=""
for tool in psql pg_dump pg_restore aws runuser Rscript jq; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing initdb"
# The schema fixture uses pgcrypto (Debian's postgresql-contrib, part of the server package since PostgreSQL 10).
ls /usr/share/postgresql/*/extension/pgcrypto.control >/dev/null 2>&1 || missing="$missing pgcrypto"
[ -z "$missing" ] && exit 0
echo "test prerequisites missing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    echo "install them with: sudo apt-get install -y postgresql postgresql-contrib postgresql-client awscli r-base-core jq" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib postgresql-client awscli util-linux r-base-core jq >/dev/null

#!/usr/bin/env bash
# PostgreSQL first-start script (mounted into /docker-entrypoint-initdb.d/ by compose.yaml):
# one role and one database per component, taken from the database URL secrets so that each
# password is written in one place only. Runs once, on an empty data volume.
set -euo pipefail

for component in auth core finance; do
    url=$(head -n1 "/run/secrets/${component}_database_url")
    rest=${url#*://}            # user:password@host:port/db
    user=${rest%%:*}
    password=${rest#*:}
    password=${password%%@*}
    db=${rest##*/}
    db=${db%%\?*}
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v user="$user" -v password="$password" -v db="$db" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
    echo "kisum: created role and database ${db}"
done

#!/usr/bin/env bash
# Restore drill on PostgreSQL, by the procedure of docs/operations.md ("Backup and restore"):
# starts `kisum core`, `kisum auth` and `kisum module --name finance` on fresh databases and
# Redis (scripts/lib/separate.sh), populates them through HTTP (scripts/lib/drill.sh, as
# restore-drill.sh does for `kisum dev`), takes a custom-format `pg_dump` of Auth, then Core,
# then finance, and keeps the key directories (KISUM_SIGNING_KEYS_DIR, KISUM_CERT_KEYS_DIR) and
# the secrets (KISUM_SECRET_KEY, the service key) as a secret store would; then destroys it all
# (processes stopped, databases dropped, key directories deleted), restores each dump into a
# fresh `…_restored` database with `createdb` and `pg_restore`, runs `kisum migrate` (expects
# `up to date`), clears the deployment's Redis keys, starts the three again on the restored
# databases, keys and secrets, and proves through HTTP that nothing a user relies on was lost.
# Needs KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL, psql, pg_dump, pg_restore, createdb,
# redis-cli. Builds the `kisum` binary first; logs go to target/restore-drill-pg/.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KISUM_TEST_DATABASE_URL:?set KISUM_TEST_DATABASE_URL}"
: "${KISUM_TEST_REDIS_URL:?set KISUM_TEST_REDIS_URL}"

cargo build -q --workspace --bin kisum
KISUM=${CARGO_TARGET_DIR:-$PWD/target}/debug/kisum
# shellcheck source=scripts/lib/separate.sh
. scripts/lib/separate.sh
# shellcheck source=scripts/lib/drill.sh
. scripts/lib/drill.sh
separate_workspace restore-drill-pg
started=$SECONDS

fail() { echo "FAIL: $*" >&2; exit 1; }

drill_step "start kisum core, auth and module on fresh PostgreSQL databases, seed the demo data"
separate_setup drill
separate_start
AUTH=http://127.0.0.1:$A CORE=http://127.0.0.1:$C MODULE=http://127.0.0.1:$M LICENSING=http://127.0.0.1:$L
SERVICE_KEY=$KEY
KISUM_INTERNAL_API_KEY=$KEY scripts/seed-demo.sh "$AUTH" "$CORE" >"$LOGS/seed.log"
ACME=$(sed -n 's/^seeded company acme (\(.*\)).*/\1/p' "$LOGS/seed.log")
# As in `kisum dev`: the finance module has reports too, and the seeded addresses are proven
# and the member has joined (what the emailed links would do; as bench-http.sh does).
curl -fsS -o /dev/null -X PUT "$CORE/internal/v1/modules/finance" -H "authorization: Bearer $KEY" \
    -H 'content-type: application/json' \
    -d '{"name":"Finance","kind":"addon","permissions":["finance.invoices.read","finance.invoices.write","finance.reports.read"]}'
psql -q -v ON_ERROR_STOP=1 "$DB_SERVER/$AUTH_DB$DB_PARAMS" \
    -c "UPDATE users SET email_verified = TRUE WHERE NOT email_verified" \
    -c "UPDATE memberships SET status = 'active' WHERE status = 'invited'" >/dev/null
LICENSE_KEY=$(curl -fsS "$CORE/internal/v1/licenses" -H "authorization: Bearer $KEY" \
    -H 'content-type: application/json' \
    -d "{\"company_id\":\"$ACME\",\"name\":\"Acme desktop\",\"max_activations\":3}" | jq -r .key)
drill_populate

drill_step "back up: pg_dump of Auth, then Core, then finance; the key directories and secrets"
BACKUP=$WORK/backup
mkdir -m 0700 "$BACKUP" "$BACKUP/secrets"
for db in "$AUTH_DB" "$CORE_DB" "$FINANCE_DB"; do
    pg_dump --format=custom --no-owner --file="$BACKUP/$db.dump" "$DB_SERVER/$db$DB_PARAMS"
done
# The secret store's part.
cp -a "$SIGNING_KEYS" "$BACKUP/secrets/signing-keys"
cp -a "$CERT_KEYS" "$BACKUP/secrets/cert-keys"
printf '%s' "$SECRET_KEY" >"$BACKUP/secrets/secret-key"
printf '%s' "$KEY" >"$BACKUP/secrets/service-key"

drill_step "destroy: stop everything, drop the databases, delete the key directories, forget the secrets"
stop_all
drop_dbs
rm -rf "$SIGNING_KEYS" "$CERT_KEYS"
unset SECRET_KEY KEY SERVICE_KEY

drill_step "restore each dump into a fresh database (createdb, pg_restore), and the keys and secrets"
ROLE=$(psql "$KISUM_TEST_DATABASE_URL" -Atc 'SELECT current_user')
for db in "$AUTH_DB" "$CORE_DB" "$FINANCE_DB"; do
    createdb --maintenance-db="$KISUM_TEST_DATABASE_URL" --owner="$ROLE" "${db}_restored"
    DBS+=("${db}_restored")
    pg_restore --dbname="$DB_SERVER/${db}_restored$DB_PARAMS" \
        --no-owner --role="$ROLE" --exit-on-error "$BACKUP/$db.dump"
done
AUTH_DB=${AUTH_DB}_restored CORE_DB=${CORE_DB}_restored FINANCE_DB=${FINANCE_DB}_restored
cp -a "$BACKUP/secrets/signing-keys" "$SIGNING_KEYS"
cp -a "$BACKUP/secrets/cert-keys" "$CERT_KEYS"
SECRET_KEY=$(cat "$BACKUP/secrets/secret-key")
KEY=$(cat "$BACKUP/secrets/service-key")
SERVICE_KEY=$KEY

drill_step "kisum migrate on the restored Auth and Core databases: up to date"
for component in auth core; do
    db=$AUTH_DB
    [ "$component" = core ] && db=$CORE_DB
    out=$(KISUM_DATABASE_URL="$DB_SERVER/$db$DB_PARAMS" "$KISUM" migrate --component "$component")
    grep -q "^$component: up to date" <<<"$out" || fail "kisum migrate --component $component: $out"
done

drill_step "clear the deployment's Redis keys, start Core, Auth and the finance backend on the restored databases"
redis-cli -u "$KISUM_TEST_REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" \
    | xargs -r redis-cli -u "$KISUM_TEST_REDIS_URL" del >/dev/null
separate_start
drill_prove

echo "restore drill (PostgreSQL): OK in $((SECONDS - started)) s"

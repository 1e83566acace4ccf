#!/usr/bin/env bash
# Runs scripts/smoke.sh against the two deployments `.ci/run` checks:
#   1. `kisum dev` (everything in one process on SQLite);
#   2. `kisum core`, `kisum auth` and `kisum module --name finance` as separate processes on
#      PostgreSQL (a fresh database per component) and Redis.
# Needs KISUM_TEST_DATABASE_URL (a PostgreSQL server URL, e.g. postgres://postgres@127.0.0.1:5432/test)
# and KISUM_TEST_REDIS_URL. Builds the `kisum` binary first. Logs go to target/smoke/.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KISUM_TEST_DATABASE_URL:?set KISUM_TEST_DATABASE_URL}"
: "${KISUM_TEST_REDIS_URL:?set KISUM_TEST_REDIS_URL}"

cargo build -q -p kisum-servers --bin kisum
KISUM=$PWD/target/debug/kisum
LOGS=$PWD/target/smoke
rm -rf "$LOGS"
mkdir -p "$LOGS"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_healthy() {
    local url=$1 name=$2 pid=$3
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null --max-time 1 "$url/health" 2>/dev/null; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: $name exited during start-up; its log:" >&2
            cat "$LOGS/$name.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "FAIL: $name not healthy at $url; its log:" >&2
    cat "$LOGS/$name.log" >&2
    exit 1
}

stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

# ---- 1. kisum dev ---------------------------------------------------------------------------
echo "==> smoke: kisum dev"
A=$(free_port) I=$(free_port) C=$(free_port) M=$(free_port)
env -u KISUM_INTERNAL_API_KEY "$KISUM" dev --data-dir "$WORK/dev" \
    --listen "127.0.0.1:$A" --internal-listen "127.0.0.1:$I" \
    --core-listen "127.0.0.1:$C" --module-listen "127.0.0.1:$M" >"$LOGS/dev.log" 2>&1 &
PIDS+=($!)
for port in $A $I $C $M; do wait_healthy "http://127.0.0.1:$port" dev "${PIDS[0]}"; done
KISUM_INTERNAL_API_KEY=$(cat "$WORK/dev/internal-api-key") \
    scripts/smoke.sh "http://127.0.0.1:$A" "http://127.0.0.1:$C" "http://127.0.0.1:$M"

echo "==> kisum dev: the seeded demo member reads invoices and may not write them"
TOKEN=$(curl -fsS "http://127.0.0.1:$A/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"member@acme.test","password":"kisum-demo-password"}' | jq -r .access_token)
read_status=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M/v1/finance/invoices" \
    -H "authorization: Bearer $TOKEN" -H 'x-org: acme')
write_status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$M/v1/finance/invoices" \
    -H "authorization: Bearer $TOKEN" -H 'x-org: acme' -H 'content-type: application/json' \
    -d '{"customer":"Globex","amount_cents":1200}')
if [ "$read_status" != 200 ] || [ "$write_status" != 403 ]; then
    echo "FAIL: demo member read $read_status, write $write_status (want 200, 403)" >&2
    exit 1
fi

echo "==> kisum dev: every listener serves its OpenAPI document"
for port in $A $I $C $M; do
    curl -fsS "http://127.0.0.1:$port/openapi.json" | jq -e '.openapi == "3.1.0" and (.paths | length > 3)' >/dev/null \
        || { echo "FAIL: no OpenAPI document on :$port" >&2; exit 1; }
done

echo "==> kisum dev: /metrics carries the domain counters"
metrics=$(curl -fsS "http://127.0.0.1:$M/metrics")
for name in kisum_http_requests_total kisum_auth_logins_total kisum_auth_refresh_total \
    kisum_guard_decisions_total kisum_guard_access_cache_total kisum_core_entitlement_bumps_total; do
    grep -q "^$name" <<<"$metrics" || { echo "FAIL: /metrics lacks $name" >&2; exit 1; }
done
stop_all

# ---- 2. separate processes on PostgreSQL and Redis -------------------------------------------
echo "==> smoke: kisum auth + kisum core + kisum module on PostgreSQL and Redis"
SERVER=${KISUM_TEST_DATABASE_URL%/*}
SUFFIX="$(date +%s)_$$"
for db in auth core finance; do
    psql -q "$KISUM_TEST_DATABASE_URL" -c "CREATE DATABASE kisum_smoke_${db}_$SUFFIX" >/dev/null
done
drop_dbs() {
    for db in auth core finance; do
        psql -q "$KISUM_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS kisum_smoke_${db}_$SUFFIX WITH (FORCE)" >/dev/null 2>&1 || true
    done
}
trap 'cleanup; drop_dbs' EXIT

A=$(free_port) I=$(free_port) C=$(free_port) M=$(free_port)
KEY="smoke-service-key-$SUFFIX"
PREFIX="smoke-$SUFFIX:"
"$KISUM" keys generate --alg ES256 --dir "$WORK/keys" >"$LOGS/keys.log"
KID=$(basename "$(ls "$WORK"/keys/*.pem)" .pem)
common=(KISUM_MODE=development KISUM_REDIS_URL="$KISUM_TEST_REDIS_URL" KISUM_REDIS_PREFIX="$PREFIX")

env "${common[@]}" KISUM_DATABASE_URL="$SERVER/kisum_smoke_core_$SUFFIX" \
    KISUM_INTERNAL_LISTEN="127.0.0.1:$C" KISUM_INTERNAL_API_KEYS="auth:$KEY" \
    "$KISUM" core >"$LOGS/core.log" 2>&1 &
PIDS+=($!)
wait_healthy "http://127.0.0.1:$C" core "${PIDS[-1]}"

env "${common[@]}" KISUM_DATABASE_URL="$SERVER/kisum_smoke_auth_$SUFFIX" \
    KISUM_LISTEN="127.0.0.1:$A" KISUM_INTERNAL_LISTEN="127.0.0.1:$I" \
    KISUM_INTERNAL_API_KEYS="finance:$KEY" KISUM_INTERNAL_API_KEY="$KEY" \
    KISUM_SIGNING_KEYS_DIR="$WORK/keys" KISUM_ACTIVE_KID="$KID" \
    KISUM_ISSUER="http://127.0.0.1:$A" KISUM_AUDIENCE=kisum \
    KISUM_PUBLIC_URL="http://127.0.0.1:$A" KISUM_CORE_URL="http://127.0.0.1:$C" \
    "$KISUM" auth >"$LOGS/auth.log" 2>&1 &
PIDS+=($!)
wait_healthy "http://127.0.0.1:$A" auth "${PIDS[-1]}"

env "${common[@]}" KISUM_DATABASE_URL="$SERVER/kisum_smoke_finance_$SUFFIX" \
    KISUM_LISTEN="127.0.0.1:$M" KISUM_INTERNAL_API_KEY="$KEY" \
    KISUM_ISSUER="http://127.0.0.1:$A" KISUM_AUDIENCE=kisum \
    KISUM_AUTH_URL="http://127.0.0.1:$A" KISUM_AUTH_INTERNAL_URL="http://127.0.0.1:$I" \
    "$KISUM" module --name finance >"$LOGS/finance.log" 2>&1 &
PIDS+=($!)
wait_healthy "http://127.0.0.1:$M" finance "${PIDS[-1]}"

# The catalog the smoke test relies on, through Core's internal API.
put() {
    local status
    status=$(curl -sS -o "$LOGS/put.json" -w '%{http_code}' -X PUT "http://127.0.0.1:$C$1" \
        -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d "$2")
    [ "$status" = 200 ] || { echo "FAIL: PUT $1 answered $status: $(cat "$LOGS/put.json")" >&2; exit 1; }
}
put /internal/v1/modules/core '{"name":"Core","kind":"core","permissions":["core.home.view"]}'
put /internal/v1/modules/finance '{"name":"Finance","kind":"addon","permissions":["finance.invoices.read","finance.invoices.write"]}'
put /internal/v1/packages/basic '{"name":"Basic","is_basic":true,"modules":["core"]}'
put /internal/v1/addons/finance '{"name":"Finance","module":"finance"}'

for port in $A $I $C $M; do
    curl -fsS "http://127.0.0.1:$port/ready" >/dev/null || { echo "FAIL: :$port not ready" >&2; curl -sS "http://127.0.0.1:$port/ready" >&2; exit 1; }
done
KISUM_INTERNAL_API_KEY=$KEY SMOKE_PROPAGATION_SECONDS=5 \
    scripts/smoke.sh "http://127.0.0.1:$A" "http://127.0.0.1:$C" "http://127.0.0.1:$M"
stop_all
echo "==> smoke: both deployments passed"

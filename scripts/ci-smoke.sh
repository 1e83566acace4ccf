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

# Workspace-wide, so features unify as in the test build (no second compile of the dependencies).
cargo build -q --workspace --bin kisum
KISUM=${CARGO_TARGET_DIR:-$PWD/target}/debug/kisum
# shellcheck source=scripts/lib/separate.sh
. scripts/lib/separate.sh
# shellcheck source=scripts/lib/smoke-checks.sh
. scripts/lib/smoke-checks.sh
separate_workspace smoke

# ---- 1. kisum dev ---------------------------------------------------------------------------
echo "==> smoke: kisum dev"
A=$(free_port) I=$(free_port) C=$(free_port) M=$(free_port) L=$(free_port)
env -u KISUM_INTERNAL_API_KEY "$KISUM" dev --data-dir "$WORK/dev" \
    --listen "127.0.0.1:$A" --internal-listen "127.0.0.1:$I" \
    --core-listen "127.0.0.1:$C" --module-listen "127.0.0.1:$M" \
    --licensing-listen "127.0.0.1:$L" >"$LOGS/dev.log" 2>&1 &
PIDS+=($!)
for port in $A $I $C $M $L; do wait_healthy "http://127.0.0.1:$port" dev "${PIDS[0]}"; done
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

echo "==> kisum dev: an admin route rejects a non-admin (403), and the seeded administrator reads it"
admin_refused "http://127.0.0.1:$A" "$TOKEN" /v1/admin/companies "$WORK/admin.json" || { echo "FAIL: see above" >&2; exit 1; }
ADMIN_TOKEN=$(curl -fsS "http://127.0.0.1:$A/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"admin@kisum.test","password":"kisum-demo-password"}' | jq -r .access_token)
curl -fsS "http://127.0.0.1:$A/v1/admin/companies?query=acme" -H "authorization: Bearer $ADMIN_TOKEN" \
    | jq -e '.items[0].slug == "acme"' >/dev/null \
    || { echo "FAIL: the seeded administrator cannot search companies" >&2; exit 1; }

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

echo "==> kisum dev: the demo licence activates 3 machines, refuses a 4th, and its certificate verifies offline"
LICENSE_KEY=$(cat "$WORK/dev/demo-license-key")
activate() {
    curl -sS -o "$WORK/activation.json" -w '%{http_code}' "http://127.0.0.1:$L/v1/licenses/activate" \
        -H "authorization: License $LICENSE_KEY" -H 'content-type: application/json' \
        -d "{\"fingerprint\":\"$1\"}"
}
for machine in smoke-1 smoke-2 smoke-3; do
    status=$(activate "$machine")
    [ "$status" = 201 ] || { echo "FAIL: activation of $machine answered $status" >&2; cat "$WORK/activation.json" >&2; exit 1; }
done
jq -r .certificate "$WORK/activation.json" >"$WORK/smoke-3.cert"
status=$(activate smoke-4)
[ "$status" = 409 ] && jq -e '.code == "activation_limit"' "$WORK/activation.json" >/dev/null \
    || { echo "FAIL: a 4th activation answered $status" >&2; cat "$WORK/activation.json" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$C/internal/v1/certificate-keys" \
    -H "authorization: Bearer $(cat "$WORK/dev/internal-api-key")" >"$WORK/cert-keys.json"
"$KISUM" license verify "$WORK/smoke-3.cert" --keys "$WORK/cert-keys.json" \
    --license-key "$LICENSE_KEY" --fingerprint smoke-3 | jq -e '.typ == "activation" and (.modules | index("finance"))' >/dev/null \
    || { echo "FAIL: the activation certificate does not verify offline" >&2; exit 1; }
if "$KISUM" license verify "$WORK/smoke-3.cert" --keys "$WORK/cert-keys.json" \
    --license-key "$LICENSE_KEY" --fingerprint smoke-2 >/dev/null 2>&1; then
    echo "FAIL: another machine's fingerprint verified" >&2; exit 1
fi
stop_all

# ---- 2. separate processes on PostgreSQL and Redis -------------------------------------------
echo "==> smoke: kisum auth + kisum core + kisum module on PostgreSQL and Redis"
start_separate smoke

# The demo catalog, company and users, through the APIs (the smoke test makes its own company).
KISUM_INTERNAL_API_KEY=$KEY scripts/seed-demo.sh "http://127.0.0.1:$A" "http://127.0.0.1:$C"

for port in $A $I $C $M; do
    curl -fsS "http://127.0.0.1:$port/ready" >/dev/null || { echo "FAIL: :$port not ready" >&2; curl -sS "http://127.0.0.1:$port/ready" >&2; exit 1; }
done
WEBHOOK_URL="http://127.0.0.1:$W/v1/billing/stripe/webhook"
KISUM_INTERNAL_API_KEY=$KEY SMOKE_PROPAGATION_SECONDS=5 \
    SMOKE_WEBHOOK_URL=$WEBHOOK_URL SMOKE_WEBHOOK_SECRET=$WEBHOOK_SECRET \
    scripts/smoke.sh "http://127.0.0.1:$A" "http://127.0.0.1:$C" "http://127.0.0.1:$M"

echo "==> kisum auth: an admin route rejects a non-admin (403)"
MEMBER_TOKEN=$(curl -fsS "http://127.0.0.1:$A/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"member@acme.test","password":"kisum-demo-password"}' | jq -r .access_token)
admin_refused "http://127.0.0.1:$A" "$MEMBER_TOKEN" /v1/admin/catalog/modules "$WORK/admin.json" \
    || { echo "FAIL: see above" >&2; exit 1; }

echo "==> kisum core: a signed Stripe event entitles a company once; a forged one is refused"
WEBHOOK_COMPANY=$(python3 -c 'import uuid; print(uuid.uuid4())')
stripe_event "$WEBHOOK_COMPANY" price_smoke_basic "$WORK/stripe-event.json"
webhook_checks "$WEBHOOK_URL" "$WEBHOOK_SECRET" "$WORK/stripe-event.json" "$WORK/webhook.json" applied \
    || { echo "FAIL: see above" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$C/internal/v1/companies/$WEBHOOK_COMPANY/entitlements" -H "authorization: Bearer $KEY" \
    | jq -e '.entitlement_version == 1 and .basic_active and (.modules | map(.key) | index("core"))' >/dev/null \
    || { echo "FAIL: the webhook's company is not entitled once" >&2; exit 1; }
# Read whole before grep: `curl | grep -q` fails (pipefail) when grep stops reading first.
metrics=$(curl -fsS "http://127.0.0.1:$W/metrics")
grep -q '^kisum_billing_webhooks_total{result="applied"}' <<<"$metrics" \
    || { echo "FAIL: /metrics of the webhook listener lacks kisum_billing_webhooks_total" >&2; exit 1; }
stop_all
echo "==> smoke: both deployments passed"

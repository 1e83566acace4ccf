#!/usr/bin/env bash
# Seeds the demo data of `kisum dev` (API.md) into a deployment of separate servers, through
# their APIs: Core's catalog (modules core and finance, package basic, add-on finance), company
# `acme` with basic and the finance add-on active, owner@acme.test (owner) and member@acme.test
# (finance-viewer: finance.invoices.read, module finance), password kisum-demo-password.
#
#   KISUM_INTERNAL_API_KEY=… scripts/seed-demo.sh AUTH_URL CORE_INTERNAL_URL
#
# For demos and load tests only. Needs curl and jq.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: KISUM_INTERNAL_API_KEY=… $0 AUTH_URL CORE_INTERNAL_URL" >&2; exit 64; }
AUTH=${1%/}
CORE=${2%/}
KEY=${KISUM_INTERNAL_API_KEY:?set KISUM_INTERNAL_API_KEY to the service key Core accepts}
PW=kisum-demo-password
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

call() {
    local want=$1 method=$2 url=$3
    shift 3
    local status
    status=$(curl -sS -o "$OUT" -w '%{http_code}' -X "$method" "$url" -H 'content-type: application/json' "$@")
    if [ "$status" != "$want" ]; then
        echo "seed: $method $url answered $status (want $want): $(cat "$OUT")" >&2
        exit 1
    fi
}

core() { call 200 PUT "$CORE$1" -H "authorization: Bearer $KEY" -d "$2"; }
core /internal/v1/modules/core '{"name":"Core","kind":"core","permissions":["core.home.view"]}'
core /internal/v1/modules/finance '{"name":"Finance","kind":"addon","permissions":["finance.invoices.read","finance.invoices.write"]}'
core /internal/v1/packages/basic '{"name":"Basic","is_basic":true,"modules":["core"]}'
core /internal/v1/addons/finance '{"name":"Finance","module":"finance"}'

call 201 POST "$AUTH/v1/auth/register" \
    -d "{\"email\":\"owner@acme.test\",\"password\":\"$PW\",\"name\":\"Acme Owner\",\"company_name\":\"Acme\"}"
OWNER=$(jq -r .access_token "$OUT")
COMPANY=$(jq -r .company.id "$OUT")
call 201 POST "$AUTH/v1/auth/register" \
    -d "{\"email\":\"member@acme.test\",\"password\":\"$PW\",\"name\":\"Acme Member\"}"
call 201 POST "$AUTH/v1/companies/acme/roles" -H "authorization: Bearer $OWNER" \
    -d '{"key":"finance-viewer","name":"Finance viewer","permissions":["finance.invoices.read"]}'
call 201 POST "$AUTH/v1/companies/acme/members" -H "authorization: Bearer $OWNER" \
    -d '{"email":"member@acme.test","roles":["finance-viewer"],"modules":["finance"]}'
core "/internal/v1/companies/$COMPANY/subscription" '{"package":"basic","status":"active"}'
core "/internal/v1/companies/$COMPANY/addons/finance" '{"status":"active"}'
echo "seeded company acme ($COMPANY): owner@acme.test, member@acme.test / $PW"

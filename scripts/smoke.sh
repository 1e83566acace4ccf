#!/usr/bin/env bash
# The production smoke test of a Kisum deployment.
#
#   KISUM_INTERNAL_API_KEY=… scripts/smoke.sh AUTH_URL CORE_INTERNAL_URL MODULE_URL
#
# AUTH_URL is Auth's public base URL, CORE_INTERNAL_URL Core's internal base URL (reached with
# the service key in KISUM_INTERNAL_API_KEY), MODULE_URL the reference `finance` backend.
# It registers a fresh user with a fresh company, signs in, reads the session and
# `me/access`, is refused an administration route (the user holds no platform role), makes a
# denied and then an allowed backend request around an entitlement change, checks that a
# subscription change is visible in `me/access`, signs out and confirms that the token is
# refused. Needs curl and jq. Exit status 0 only if every step answered as API.md says.
#
# With SMOKE_WEBHOOK_URL (Core's Stripe webhook, e.g. https://billing.example.com/v1/billing/stripe/webhook)
# and SMOKE_WEBHOOK_SECRET (one of its KISUM_STRIPE_WEBHOOK_SECRETS) it also posts a correctly
# signed Stripe-shaped event about the fresh company — subscribed to SMOKE_WEBHOOK_PRICE, by
# default a price no KISUM_STRIPE_PRICE_MAP names, so the event is recorded and ignored —
# expecting 200, then 200 `duplicate` for the same event again, and 400 `invalid_signature`
# for a forged one (needs openssl too). Without them that step is skipped.
set -euo pipefail
# shellcheck source=scripts/lib/smoke-checks.sh
. "$(dirname "$0")/lib/smoke-checks.sh"

if [ $# -ne 3 ]; then
    echo "usage: KISUM_INTERNAL_API_KEY=… $0 AUTH_URL CORE_INTERNAL_URL MODULE_URL" >&2
    exit 64
fi
AUTH=${1%/}
CORE=${2%/}
MODULE=${3%/}
KEY=${KISUM_INTERNAL_API_KEY:?set KISUM_INTERNAL_API_KEY to the service key Core accepts}
# How long a change may take to reach the backend's guard (its cache TTL without events).
PROPAGATION=${SMOKE_PROPAGATION_SECONDS:-40}
WEBHOOK_URL=${SMOKE_WEBHOOK_URL:-}
WEBHOOK_SECRET=${SMOKE_WEBHOOK_SECRET:-}
WEBHOOK_PRICE=${SMOKE_WEBHOOK_PRICE:-price_kisum_smoke_unmapped}
if [ -n "$WEBHOOK_URL" ] && [ -z "$WEBHOOK_SECRET" ]; then
    echo "SMOKE_WEBHOOK_URL needs SMOKE_WEBHOOK_SECRET (the endpoint's signing secret)" >&2
    exit 64
fi

STEP=0
BODY=$(mktemp)
EVENT=$(mktemp)
trap 'rm -f "$BODY" "$EVENT"' EXIT

fail() {
    echo "FAIL (step $STEP): $*" >&2
    echo "last body: $(head -c 600 "$BODY")" >&2
    exit 1
}

step() {
    STEP=$((STEP + 1))
    printf '%2d. %s\n' "$STEP" "$*"
}

# request METHOD URL [curl args…] -> prints the status; the body is in $BODY
request() {
    local method=$1 url=$2
    shift 2
    curl -sS -o "$BODY" -w '%{http_code}' -X "$method" "$url" --max-time 10 "$@" \
        || echo "000"
}

expect() {
    local want=$1 got=$2 what=$3
    [ "$got" = "$want" ] || fail "$what: expected $want, got $got"
}

field() { jq -r "$1" "$BODY"; }

SUFFIX="$(date +%s)-$RANDOM"
EMAIL="smoke-$SUFFIX@example.test"
PASSWORD="smoke-password-$SUFFIX"
COMPANY="Smoke $SUFFIX"

step "health of every component"
for url in "$AUTH" "$CORE" "$MODULE"; do
    expect 200 "$(request GET "$url/health")" "GET $url/health"
done

step "register $EMAIL with a new company"
status=$(request POST "$AUTH/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Smoke\",\"company_name\":\"$COMPANY\"}")
expect 201 "$status" "register"
COMPANY_ID=$(field '.company.id // .company_id // empty')
ORG=$(field '.company.slug // empty')
if [ -z "$COMPANY_ID" ] || [ -z "$ORG" ]; then fail "register answered no company"; fi

step "sign in"
status=$(request POST "$AUTH/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}")
expect 200 "$status" "login"
[ "$(field .token_type)" = "Bearer" ] || fail "token_type is not Bearer"
REFRESH=$(field .refresh_token)

step "refresh: a new pair, the old refresh token spent"
status=$(request POST "$AUTH/v1/auth/refresh" -H 'content-type: application/json' \
    -d "{\"refresh_token\":\"$REFRESH\"}")
expect 200 "$status" "refresh"
[ "$(field .refresh_token)" != "$REFRESH" ] || fail "the refresh token was not rotated"
TOKEN=$(field .access_token)
AUTHZ=(-H "authorization: Bearer $TOKEN")

step "the session"
expect 200 "$(request GET "$AUTH/v1/auth/session" "${AUTHZ[@]}")" "GET session"
[ "$(field .session_id)" != "null" ] || fail "no session_id"

step "an administration route refuses a user without a platform role"
admin_refused "$AUTH" "$TOKEN" /v1/admin/companies "$BODY" || fail "GET /v1/admin/companies"

step "me/access without a subscription: the company, no Core App"
expect 200 "$(request GET "$AUTH/v1/auth/me/access" "${AUTHZ[@]}" -H "x-org: $ORG")" "me/access"
[ "$(field .core_app_visible)" = "false" ] || fail "core app visible without a subscription"
[ "$(field .company_id)" = "$COMPANY_ID" ] || fail "me/access for another company"

step "a denied backend request: the company is not entitled to finance"
status=$(request GET "$MODULE/v1/finance/invoices" "${AUTHZ[@]}" -H "x-org: $ORG")
expect 403 "$status" "GET invoices before the add-on"
[ "$(field .code)" = "module_not_entitled" ] || fail "denial code $(field .code)"

step "Core activates the finance add-on (service key)"
status=$(request PUT "$CORE/internal/v1/companies/$COMPANY_ID/addons/finance" \
    -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d '{"status":"active"}')
expect 200 "$status" "PUT add-on"

step "an allowed backend request (within ${PROPAGATION}s of the change)"
deadline=$((SECONDS + PROPAGATION))
while :; do
    status=$(request GET "$MODULE/v1/finance/invoices" "${AUTHZ[@]}" -H "x-org: $ORG")
    [ "$status" = 200 ] && break
    [ $SECONDS -lt $deadline ] || fail "invoices still $status after the add-on"
    sleep 1
done
status=$(request POST "$MODULE/v1/finance/invoices" "${AUTHZ[@]}" -H "x-org: $ORG" \
    -H 'content-type: application/json' -d '{"customer":"Smoke Ltd","amount_cents":4200}')
expect 201 "$status" "POST invoice as owner"

step "Core subscribes the company to basic: visible in me/access"
status=$(request PUT "$CORE/internal/v1/companies/$COMPANY_ID/subscription" \
    -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d '{"package":"basic","status":"active"}')
expect 200 "$status" "PUT subscription"
expect 200 "$(request GET "$AUTH/v1/auth/me/access" "${AUTHZ[@]}" -H "x-org: $ORG")" "me/access"
[ "$(field .core_app_visible)" = "true" ] || fail "core app not visible after the subscription"

if [ -n "$WEBHOOK_URL" ]; then
    step "a signed Stripe event is taken once (then a duplicate); a forged one is refused"
    stripe_event "$COMPANY_ID" "$WEBHOOK_PRICE" "$EVENT"
    webhook_checks "$WEBHOOK_URL" "$WEBHOOK_SECRET" "$EVENT" "$BODY" applied ignored \
        || fail "POST $WEBHOOK_URL"
else
    echo "    (the webhook step is skipped: SMOKE_WEBHOOK_URL and SMOKE_WEBHOOK_SECRET are not set)"
fi

step "sign out"
expect 204 "$(request POST "$AUTH/v1/auth/logout" "${AUTHZ[@]}")" "logout"

step "the token is refused after sign-out"
expect 401 "$(request GET "$AUTH/v1/auth/session" "${AUTHZ[@]}")" "GET session after logout"
deadline=$((SECONDS + PROPAGATION))
while :; do
    status=$(request GET "$MODULE/v1/finance/invoices" "${AUTHZ[@]}" -H "x-org: $ORG")
    [ "$status" = 401 ] && break
    [ $SECONDS -lt $deadline ] || fail "backend still answers $status after logout"
    sleep 1
done
[ "$(field .code)" = "session_revoked" ] || fail "denial code $(field .code)"

echo "smoke: all $STEP steps passed against $AUTH, $CORE, $MODULE"

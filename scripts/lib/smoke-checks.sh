# shellcheck shell=bash
# Checks shared by scripts/smoke.sh (the operator's smoke test of any deployment) and
# scripts/ci-smoke.sh (the deployments CI starts). Each check prints nothing when it passes;
# otherwise it says why on stderr and returns 1. They need curl and jq; the webhook checks need
# openssl too.

SMOKE_CHECKS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# admin_refused AUTH_URL TOKEN PATH OUT: a signed-in user who holds no platform role gets
# 403 `permission_denied` on Auth's administration route PATH (the body is left in OUT).
admin_refused() {
    local status
    : >"$4"
    status=$(curl -sS -o "$4" -w '%{http_code}' --max-time 10 "$1$3" \
        -H "authorization: Bearer $2") || status=000
    if [ "$status" = 403 ] && jq -e '.code == "permission_denied"' "$4" >/dev/null 2>&1; then
        return 0
    fi
    echo "a non-administrator on $3 got $status: $(head -c 300 "$4" 2>/dev/null)" >&2
    return 1
}

# stripe_event COMPANY_ID PRICE_ID OUT: writes to OUT a Stripe `customer.subscription.created`
# event (the Rust tests' fixture) subscribing COMPANY_ID to PRICE_ID, created now, whose event id
# is derived from COMPANY_ID (so each company's event is delivered once, then is a duplicate).
stripe_event() {
    jq -c --arg company "$1" --arg price "$2" --argjson now "$(date +%s)" '
        .id = "evt_smoke_" + ($company | gsub("-"; ""))
        | .created = $now
        | .data.object.metadata.kisum_company_id = $company
        | .data.object.items.data[0].price.id = $price
        | .data.object.items.data[0].current_period_end = $now + 30 * 86400' \
        "$SMOKE_CHECKS_DIR/../../kisum-core/tests/fixtures/stripe/customer.subscription.created.json" \
        >"$3"
}

# stripe_signature SECRET FILE: the `Stripe-Signature` header Stripe would send for FILE's
# bytes, signed now with the endpoint secret SECRET (HMAC-SHA256 of `timestamp.body`).
stripe_signature() {
    local t mac
    t=$(date +%s)
    mac=$({ printf '%s.' "$t"; cat "$2"; } | openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1)
    printf 't=%s,v1=%s\n' "$t" "$mac"
}

# webhook_deliver URL SECRET FILE OUT: posts FILE to the webhook URL signed with SECRET; prints
# the status and the answer's `outcome` (or problem `code`), e.g. `200 applied`.
webhook_deliver() {
    local status
    : >"$4"
    status=$(curl -sS -o "$4" -w '%{http_code}' --max-time 10 "$1" \
        -H 'content-type: application/json' \
        -H "stripe-signature: $(stripe_signature "$2" "$3")" \
        --data-binary @"$3") || status=000
    echo "$status $(jq -r '.outcome // .code' "$4" 2>/dev/null)"
}

# webhook_checks URL SECRET FILE OUT OUTCOME…: the event in FILE, correctly signed with SECRET,
# is answered 200 with one of the OUTCOMEs, then 200 `duplicate` when delivered again; signed
# with a secret nobody configured, 400 `invalid_signature`.
webhook_checks() {
    local url=$1 secret=$2 file=$3 out=$4 got want
    shift 4
    got=$(webhook_deliver "$url" "$secret" "$file" "$out")
    for want in "$@"; do
        [ "$got" = "200 $want" ] && break
    done
    if [ "$got" != "200 $want" ]; then
        echo "the signed event answered '$got' (want 200 and one of: $*): $(head -c 300 "$out")" >&2
        return 1
    fi
    got=$(webhook_deliver "$url" "$secret" "$file" "$out")
    if [ "$got" != "200 duplicate" ]; then
        echo "the event delivered again answered '$got' (want '200 duplicate')" >&2
        return 1
    fi
    got=$(webhook_deliver "$url" whsec_forged_by_an_attacker "$file" "$out")
    if [ "$got" != "400 invalid_signature" ]; then
        echo "a forged event answered '$got' (want '400 invalid_signature')" >&2
        return 1
    fi
}

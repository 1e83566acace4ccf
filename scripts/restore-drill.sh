#!/usr/bin/env bash
# Restore drill for the embedded default: populates a `kisum dev` through HTTP, takes
# `kisum backup` while it runs, stops it, destroys its data directory, runs `kisum restore`,
# starts `kisum dev` again on the restored directory and proves through HTTP that nothing a
# user relies on was lost: password sign-in, the old session and its refresh token, the
# member's roles and modules (me/access), a delegation to the member (it still grants), a
# company API key (it still works at the guarded module, and a revoked one still refuses),
# the licence activation, acme's entitlements. Builds the `kisum` binary first; logs go to
# target/restore-drill/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q --workspace --bin kisum
KISUM=${CARGO_TARGET_DIR:-$PWD/target}/debug/kisum
# shellcheck source=scripts/lib/separate.sh
. scripts/lib/separate.sh
separate_workspace restore-drill
DATA=$WORK/data

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "==> restore drill: $*"; }

# The same ports both times: the issuer of `kisum dev`'s tokens names its public listener.
A=$(free_port) I=$(free_port) C=$(free_port) M=$(free_port) L=$(free_port)
start_dev() {
    env -u KISUM_INTERNAL_API_KEY "$KISUM" dev --data-dir "$DATA" \
        --listen "127.0.0.1:$A" --internal-listen "127.0.0.1:$I" \
        --core-listen "127.0.0.1:$C" --module-listen "127.0.0.1:$M" \
        --licensing-listen "127.0.0.1:$L" >"$LOGS/dev.log" 2>&1 &
    PIDS+=($!)
    for port in $A $I $C $M $L; do wait_healthy "http://127.0.0.1:$port" dev "${PIDS[0]}"; done
}

login() {
    curl -fsS "http://127.0.0.1:$A/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"kisum-demo-password\"}"
}

# What must survive, as JSON: the member's access in acme and acme's entitlements.
access_of() {
    curl -fsS "http://127.0.0.1:$A/v1/auth/me/access" -H "authorization: Bearer $1" -H 'x-org: acme' \
        | jq -S '{company_id, modules, permissions}'
}
entitlements_of() {
    curl -fsS "http://127.0.0.1:$C/internal/v1/companies/$1/entitlements" \
        -H "authorization: Bearer $(cat "$DATA/internal-api-key")" | jq -S '{basic_active, modules}'
}
validate() {
    curl -sS -o "$WORK/validate.json" -w '%{http_code}' "http://127.0.0.1:$L/v1/licenses/validate" \
        -H "authorization: License $(cat "$DATA/demo-license-key")" -H 'content-type: application/json' \
        -d '{"fingerprint":"drill-1"}'
}

step "populate a fresh kisum dev"
start_dev
OWNER=$(login owner@acme.test)
OWNER_TOKEN=$(jq -r .access_token <<<"$OWNER")
OWNER_REFRESH=$(jq -r .refresh_token <<<"$OWNER")
members=$(curl -fsS "http://127.0.0.1:$A/v1/companies/acme/members" -H "authorization: Bearer $OWNER_TOKEN")
MEMBER_ID=$(jq -r '[.[] | select((.email // .user.email) == "member@acme.test")][0].membership_id // empty' <<<"$members")
[ -n "$MEMBER_ID" ] || MEMBER_ID=$(jq -r '[.[] | select((.email // .user.email) == "member@acme.test")][0].id' <<<"$members")
curl -fsS -X POST "http://127.0.0.1:$A/v1/companies/acme/roles" -H "authorization: Bearer $OWNER_TOKEN" \
    -H 'content-type: application/json' \
    -d '{"key":"drill-reports","name":"Drill reports","permissions":["finance.reports.read"]}' >/dev/null
curl -fsS -X PATCH "http://127.0.0.1:$A/v1/companies/acme/members/$MEMBER_ID" \
    -H "authorization: Bearer $OWNER_TOKEN" -H 'content-type: application/json' \
    -d '{"roles":["finance-viewer","drill-reports"]}' >/dev/null
# A delegation from the owner: the member may write invoices for a day.
EXPIRES=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
curl -fsS -X POST "http://127.0.0.1:$A/v1/companies/acme/delegations" -H "authorization: Bearer $OWNER_TOKEN" \
    -H 'content-type: application/json' \
    -d "{\"to_membership_id\":\"$MEMBER_ID\",\"permissions\":[\"finance.invoices.write\"],\"modules\":[\"finance\"],\"expires_at\":\"$EXPIRES\"}" >/dev/null \
    || fail "creating the delegation"
MEMBER_TOKEN=$(login member@acme.test | jq -r .access_token)
ACCESS_BEFORE=$(access_of "$MEMBER_TOKEN")
jq -e '.permissions | index("finance.reports.read")' <<<"$ACCESS_BEFORE" >/dev/null \
    || fail "the role change is not in me/access: $ACCESS_BEFORE"
jq -e '.permissions | index("finance.invoices.write")' <<<"$ACCESS_BEFORE" >/dev/null \
    || fail "the delegation is not in me/access: $ACCESS_BEFORE"
# Two company API keys; the second is revoked before the backup.
new_key() {
    curl -fsS -X POST "http://127.0.0.1:$A/v1/companies/acme/api-keys" -H "authorization: Bearer $OWNER_TOKEN" \
        -H 'content-type: application/json' \
        -d "{\"name\":\"$1\",\"permissions\":[\"finance.invoices.read\"],\"modules\":[\"finance\"]}"
}
API_KEY=$(new_key drill-live | jq -r .secret)
REVOKED=$(new_key drill-revoked)
curl -fsS -X DELETE "http://127.0.0.1:$A/v1/companies/acme/api-keys/$(jq -r .id <<<"$REVOKED")" \
    -H "authorization: Bearer $OWNER_TOKEN" >/dev/null || fail "revoking an API key"
REVOKED_KEY=$(jq -r .secret <<<"$REVOKED")
# The answer of the guarded finance module to a key.
invoices_with() {
    curl -sS -o "$WORK/invoices.json" -w '%{http_code}' "http://127.0.0.1:$M/v1/finance/invoices" \
        -H "authorization: Bearer $1" -H 'x-org: acme'
}
[ "$(invoices_with "$API_KEY")" = 200 ] || { cat "$WORK/invoices.json" >&2; fail "the API key before the backup"; }
[ "$(invoices_with "$REVOKED_KEY")" = 401 ] || { cat "$WORK/invoices.json" >&2; fail "the revoked API key before the backup"; }
ACME_ID=$(jq -r .company_id <<<"$ACCESS_BEFORE")
ENTITLEMENTS_BEFORE=$(entitlements_of "$ACME_ID")
status=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$L/v1/licenses/activate" \
    -H "authorization: License $(cat "$DATA/demo-license-key")" -H 'content-type: application/json' \
    -d '{"fingerprint":"drill-1"}')
[ "$status" = 201 ] || fail "activation answered $status"
[ "$(validate)" = 200 ] || fail "validate before the backup"

step "kisum backup while kisum dev runs"
"$KISUM" backup --data-dir "$DATA" --to "$WORK/backup"

step "stop kisum dev, destroy the data directory, kisum restore"
stop_all
rm -rf "$DATA"
"$KISUM" restore --from "$WORK/backup" --data-dir "$DATA"

step "start kisum dev on the restored directory"
start_dev

step "password sign-in works"
login owner@acme.test >/dev/null || fail "sign-in after restore"

step "the old access token's session is still valid"
status=$(curl -sS -o "$WORK/session.json" -w '%{http_code}' "http://127.0.0.1:$A/v1/auth/session" \
    -H "authorization: Bearer $OWNER_TOKEN")
[ "$status" = 200 ] || { cat "$WORK/session.json" >&2; fail "GET session with the old token answered $status"; }

step "the old refresh token refreshes once"
status=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$A/v1/auth/refresh" \
    -H 'content-type: application/json' -d "{\"refresh_token\":\"$OWNER_REFRESH\"}")
[ "$status" = 200 ] || fail "refresh after restore answered $status"

step "roles and modules are as before (me/access)"
ACCESS_AFTER=$(access_of "$MEMBER_TOKEN")
[ "$ACCESS_AFTER" = "$ACCESS_BEFORE" ] || fail "me/access changed: $ACCESS_BEFORE -> $ACCESS_AFTER"

step "the delegation still grants (me/access with a fresh sign-in)"
ACCESS_FRESH=$(access_of "$(login member@acme.test | jq -r .access_token)")
jq -e '.permissions | index("finance.invoices.write")' <<<"$ACCESS_FRESH" >/dev/null \
    || fail "the delegation is lost: $ACCESS_FRESH"

step "the API key works at the guarded module; the revoked one still refuses"
[ "$(invoices_with "$API_KEY")" = 200 ] || { cat "$WORK/invoices.json" >&2; fail "the API key after restore"; }
[ "$(invoices_with "$REVOKED_KEY")" = 401 ] || { cat "$WORK/invoices.json" >&2; fail "the revoked API key after restore"; }

step "the licence activation is still there"
[ "$(validate)" = 200 ] || { cat "$WORK/validate.json" >&2; fail "validate after restore"; }

step "acme's entitlements are the same"
ENTITLEMENTS_AFTER=$(entitlements_of "$ACME_ID")
[ "$ENTITLEMENTS_AFTER" = "$ENTITLEMENTS_BEFORE" ] \
    || fail "entitlements changed: $ENTITLEMENTS_BEFORE -> $ENTITLEMENTS_AFTER"

echo "restore drill: OK"

# shellcheck shell=bash
# The two halves every restore drill shares (sourced by restore-drill.sh, `kisum dev` on SQLite,
# and restore-drill-pg.sh, the separate processes on PostgreSQL): `drill_populate` makes, through
# HTTP, everything a user relies on, `drill_prove` proves through HTTP, after the restore, that
# none of it was lost. The caller sets AUTH, CORE, MODULE, LICENSING (base URLs), SERVICE_KEY
# (Core accepts it), LICENSE_KEY (a licence of acme with a free seat), WORK, and `fail MESSAGE`;
# acme, owner@acme.test and member@acme.test (role finance-viewer, module finance, password
# kisum-demo-password) exist, and acme's finance module knows `finance.reports.read`.

drill_step() { echo "==> restore drill: $*"; }

login() {
    curl -fsS "$AUTH/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"kisum-demo-password\"}"
}

# What must survive, as JSON: the member's access in acme and acme's entitlements.
access_of() {
    curl -fsS "$AUTH/v1/auth/me/access" -H "authorization: Bearer $1" -H 'x-org: acme' \
        | jq -S '{company_id, modules, permissions}'
}
entitlements_of() {
    curl -fsS "$CORE/internal/v1/companies/$1/entitlements" \
        -H "authorization: Bearer $SERVICE_KEY" | jq -S '{basic_active, modules}'
}
cert_keys() {
    curl -fsS "$CORE/internal/v1/certificate-keys" -H "authorization: Bearer $SERVICE_KEY" | jq -S .
}
validate() {
    curl -sS -o "$WORK/validate.json" -w '%{http_code}' "$LICENSING/v1/licenses/validate" \
        -H "authorization: License $LICENSE_KEY" -H 'content-type: application/json' \
        -d '{"fingerprint":"drill-1"}'
}
# The answer of the guarded finance module to a key.
invoices_with() {
    curl -sS -o "$WORK/invoices.json" -w '%{http_code}' "$MODULE/v1/finance/invoices" \
        -H "authorization: Bearer $1" -H 'x-org: acme'
}
# totp SECRET MIN_STEP: "STEP CODE", the authenticator app's code of SECRET (base32) for the
# current 30-second step, or MIN_STEP if later (a step already used is refused as a replay).
totp() {
    python3 - "$1" "${2:-0}" <<'PY'
import base64, hashlib, hmac, struct, sys, time
raw = sys.argv[1].upper()
secret = base64.b32decode(raw + "=" * (-len(raw) % 8))
step = max(int(time.time()) // 30, int(sys.argv[2]))
mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
o = mac[-1] & 15
print(step, "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000))
PY
}

# Sets OWNER_TOKEN, OWNER_REFRESH, MEMBER_TOKEN, ACCESS_BEFORE, API_KEY, REVOKED_KEY, ACME_ID,
# ENTITLEMENTS_BEFORE, CERT_KEYS_BEFORE, TOTP_SECRET and TOTP_STEP for `drill_prove`.
drill_populate() {
    local owner members member_id expires revoked status token enrol code
    owner=$(login owner@acme.test)
    OWNER_TOKEN=$(jq -r .access_token <<<"$owner")
    OWNER_REFRESH=$(jq -r .refresh_token <<<"$owner")
    members=$(curl -fsS "$AUTH/v1/companies/acme/members" -H "authorization: Bearer $OWNER_TOKEN")
    member_id=$(jq -r '[.[] | select((.email // .user.email) == "member@acme.test")][0].membership_id // empty' <<<"$members")
    [ -n "$member_id" ] || member_id=$(jq -r '[.[] | select((.email // .user.email) == "member@acme.test")][0].id' <<<"$members")
    curl -fsS -X POST "$AUTH/v1/companies/acme/roles" -H "authorization: Bearer $OWNER_TOKEN" \
        -H 'content-type: application/json' \
        -d '{"key":"drill-reports","name":"Drill reports","permissions":["finance.reports.read"]}' >/dev/null
    curl -fsS -X PATCH "$AUTH/v1/companies/acme/members/$member_id" \
        -H "authorization: Bearer $OWNER_TOKEN" -H 'content-type: application/json' \
        -d '{"roles":["finance-viewer","drill-reports"]}' >/dev/null
    # A delegation from the owner: the member may write invoices for a day.
    expires=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
    curl -fsS -X POST "$AUTH/v1/companies/acme/delegations" -H "authorization: Bearer $OWNER_TOKEN" \
        -H 'content-type: application/json' \
        -d "{\"to_membership_id\":\"$member_id\",\"permissions\":[\"finance.invoices.write\"],\"modules\":[\"finance\"],\"expires_at\":\"$expires\"}" >/dev/null \
        || fail "creating the delegation"
    MEMBER_TOKEN=$(login member@acme.test | jq -r .access_token)
    ACCESS_BEFORE=$(access_of "$MEMBER_TOKEN")
    jq -e '.permissions | index("finance.reports.read")' <<<"$ACCESS_BEFORE" >/dev/null \
        || fail "the role change is not in me/access: $ACCESS_BEFORE"
    jq -e '.permissions | index("finance.invoices.write")' <<<"$ACCESS_BEFORE" >/dev/null \
        || fail "the delegation is not in me/access: $ACCESS_BEFORE"
    # Two company API keys; the second is revoked before the backup.
    new_key() {
        curl -fsS -X POST "$AUTH/v1/companies/acme/api-keys" -H "authorization: Bearer $OWNER_TOKEN" \
            -H 'content-type: application/json' \
            -d "{\"name\":\"$1\",\"permissions\":[\"finance.invoices.read\"],\"modules\":[\"finance\"]}"
    }
    API_KEY=$(new_key drill-live | jq -r .secret)
    revoked=$(new_key drill-revoked)
    curl -fsS -X DELETE "$AUTH/v1/companies/acme/api-keys/$(jq -r .id <<<"$revoked")" \
        -H "authorization: Bearer $OWNER_TOKEN" >/dev/null || fail "revoking an API key"
    REVOKED_KEY=$(jq -r .secret <<<"$revoked")
    [ "$(invoices_with "$API_KEY")" = 200 ] || { cat "$WORK/invoices.json" >&2; fail "the API key before the backup"; }
    [ "$(invoices_with "$REVOKED_KEY")" = 401 ] || { cat "$WORK/invoices.json" >&2; fail "the revoked API key before the backup"; }
    ACME_ID=$(jq -r .company_id <<<"$ACCESS_BEFORE")
    ENTITLEMENTS_BEFORE=$(entitlements_of "$ACME_ID")
    status=$(curl -sS -o /dev/null -w '%{http_code}' "$LICENSING/v1/licenses/activate" \
        -H "authorization: License $LICENSE_KEY" -H 'content-type: application/json' \
        -d '{"fingerprint":"drill-1"}')
    [ "$status" = 201 ] || fail "activation answered $status"
    [ "$(validate)" = 200 ] || fail "validate before the backup"
    CERT_KEYS_BEFORE=$(cert_keys)
    # An authenticator app of a new user: its seed is sealed with Auth's secret key, in Auth's
    # database.
    token=$(curl -fsS "$AUTH/v1/auth/register" -H 'content-type: application/json' \
        -d '{"email":"mfa@drill.test","password":"kisum-demo-password"}' | jq -r .access_token) \
        || fail "registering mfa@drill.test"
    enrol=$(curl -fsS -X POST "$AUTH/v1/auth/mfa/totp" -H "authorization: Bearer $token") \
        || fail "enrolling an authenticator app"
    TOTP_SECRET=$(jq -r .secret <<<"$enrol")
    read -r TOTP_STEP code < <(totp "$TOTP_SECRET")
    curl -fsS -o /dev/null -X POST "$AUTH/v1/auth/mfa/totp/confirm" -H "authorization: Bearer $token" \
        -H 'content-type: application/json' -d "{\"code\":\"$code\"}" \
        || fail "confirming the authenticator app"
}

drill_prove() {
    local status challenge step code access
    drill_step "password sign-in works"
    login owner@acme.test >/dev/null || fail "sign-in after restore"

    drill_step "an authenticator app still gives codes Auth accepts (Auth's secret key came back)"
    challenge=$(curl -sS "$AUTH/v1/auth/login" -H 'content-type: application/json' \
        -d '{"email":"mfa@drill.test","password":"kisum-demo-password"}')
    jq -e '.code == "mfa_required"' <<<"$challenge" >/dev/null || fail "no second factor asked: $challenge"
    read -r step code < <(totp "$TOTP_SECRET" $((TOTP_STEP + 1)))
    status=$(curl -sS -o "$WORK/verify.json" -w '%{http_code}' "$AUTH/v1/auth/mfa/verify" \
        -H 'content-type: application/json' \
        -d "{\"mfa_token\":$(jq .mfa_token <<<"$challenge"),\"totp_code\":\"$code\"}")
    [ "$status" = 200 ] || { cat "$WORK/verify.json" >&2; fail "the authenticator app's code (step $step) answered $status"; }

    drill_step "the old access token's session is still valid"
    status=$(curl -sS -o "$WORK/session.json" -w '%{http_code}' "$AUTH/v1/auth/session" \
        -H "authorization: Bearer $OWNER_TOKEN")
    [ "$status" = 200 ] || { cat "$WORK/session.json" >&2; fail "GET session with the old token answered $status"; }

    drill_step "the old refresh token refreshes once"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "$AUTH/v1/auth/refresh" \
        -H 'content-type: application/json' -d "{\"refresh_token\":\"$OWNER_REFRESH\"}")
    [ "$status" = 200 ] || fail "refresh after restore answered $status"

    drill_step "roles and modules are as before (me/access)"
    access=$(access_of "$MEMBER_TOKEN")
    [ "$access" = "$ACCESS_BEFORE" ] || fail "me/access changed: $ACCESS_BEFORE -> $access"

    drill_step "the delegation still grants (me/access with a fresh sign-in)"
    access=$(access_of "$(login member@acme.test | jq -r .access_token)")
    jq -e '.permissions | index("finance.invoices.write")' <<<"$access" >/dev/null \
        || fail "the delegation is lost: $access"

    drill_step "the API key works at the guarded module; the revoked one still refuses"
    [ "$(invoices_with "$API_KEY")" = 200 ] || { cat "$WORK/invoices.json" >&2; fail "the API key after restore"; }
    [ "$(invoices_with "$REVOKED_KEY")" = 401 ] || { cat "$WORK/invoices.json" >&2; fail "the revoked API key after restore"; }

    drill_step "the licence activation is still there; certificates are signed by the same keys"
    [ "$(validate)" = 200 ] || { cat "$WORK/validate.json" >&2; fail "validate after restore"; }
    [ "$(cert_keys)" = "$CERT_KEYS_BEFORE" ] || fail "the certificate keys changed: $CERT_KEYS_BEFORE -> $(cert_keys)"

    drill_step "acme's entitlements are the same"
    access=$(entitlements_of "$ACME_ID")
    [ "$access" = "$ENTITLEMENTS_BEFORE" ] \
        || fail "entitlements changed: $ENTITLEMENTS_BEFORE -> $access"
}

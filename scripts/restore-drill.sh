#!/usr/bin/env bash
# Restore drill for the embedded default: populates a `kisum dev` through HTTP, takes
# `kisum backup` while it runs, stops it, destroys its data directory, runs `kisum restore`,
# starts `kisum dev` again on the restored directory and proves through HTTP that nothing a
# user relies on was lost: password sign-in, an authenticator app, the old session and its
# refresh token, the member's roles and modules (me/access), a delegation to the member (it
# still grants), a company API key (it still works at the guarded module, and a revoked one
# still refuses), the licence activation and the certificate keys, acme's entitlements (see
# scripts/lib/drill.sh; restore-drill-pg.sh is the same drill on PostgreSQL). Builds the
# `kisum` binary first; logs go to target/restore-drill/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q --workspace --bin kisum
KISUM=${CARGO_TARGET_DIR:-$PWD/target}/debug/kisum
# shellcheck source=scripts/lib/separate.sh
. scripts/lib/separate.sh
# shellcheck source=scripts/lib/drill.sh
. scripts/lib/drill.sh
separate_workspace restore-drill
DATA=$WORK/data

fail() { echo "FAIL: $*" >&2; exit 1; }

# The same ports both times: the issuer of `kisum dev`'s tokens names its public listener.
A=$(free_port) I=$(free_port) C=$(free_port) M=$(free_port) L=$(free_port)
AUTH=http://127.0.0.1:$A CORE=http://127.0.0.1:$C MODULE=http://127.0.0.1:$M LICENSING=http://127.0.0.1:$L
start_dev() {
    env -u KISUM_INTERNAL_API_KEY "$KISUM" dev --data-dir "$DATA" \
        --listen "127.0.0.1:$A" --internal-listen "127.0.0.1:$I" \
        --core-listen "127.0.0.1:$C" --module-listen "127.0.0.1:$M" \
        --licensing-listen "127.0.0.1:$L" >>"$LOGS/dev.log" 2>&1 &
    PIDS+=($!)
    for port in $A $I $C $M $L; do wait_healthy "http://127.0.0.1:$port" dev "${PIDS[0]}"; done
    SERVICE_KEY=$(cat "$DATA/internal-api-key")
    LICENSE_KEY=$(cat "$DATA/demo-license-key")
}

drill_step "populate a fresh kisum dev"
start_dev
drill_populate

drill_step "kisum backup while kisum dev runs"
"$KISUM" backup --data-dir "$DATA" --to "$WORK/backup"

drill_step "stop kisum dev, destroy the data directory, kisum restore"
stop_all
rm -rf "$DATA"
"$KISUM" restore --from "$WORK/backup" --data-dir "$DATA"

drill_step "start kisum dev on the restored directory"
start_dev
drill_prove

echo "restore drill: OK"

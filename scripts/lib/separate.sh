# shellcheck shell=bash
# Helpers for starting Kisum deployments on this machine (sourced by ci-smoke.sh,
# load-separate.sh and bench-http.sh). The caller sets KISUM (the binary), WORK (a scratch
# directory), LOGS, and an array PIDS — or calls `separate_workspace` for all but KISUM;
# KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL name the servers.

# separate_workspace NAME: logs in an emptied `target/NAME` (LOGS), a scratch directory (WORK),
# empty PIDS and DBS, and on exit every process stopped, every database dropped and WORK
# removed.
separate_workspace() {
    LOGS=${CARGO_TARGET_DIR:-$PWD/target}/$1
    rm -rf "$LOGS"
    mkdir -p "$LOGS"
    WORK=$(mktemp -d)
    PIDS=()
    DBS=()
    trap separate_cleanup EXIT
}

separate_cleanup() {
    stop_all
    drop_dbs
    rm -rf "$WORK"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_healthy URL NAME PID: until URL/health answers, or fail with the process's log.
wait_healthy() {
    local url=$1 name=$2 pid=$3
    for _ in $(seq 1 150); do
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

# start_separate TAG: a fresh PostgreSQL database per component, a signing key, and
# `kisum core`, `kisum auth`, `kisum module --name finance` on free loopback ports with Redis.
# Sets A (Auth public), I (Auth internal), C (Core), M (finance), W (Core's Stripe webhook
# listener, prices `price_smoke_basic` → package `basic`, `price_smoke_finance` → add-on
# `finance`) ports, WEBHOOK_SECRET (its signing secret), KEY (service key),
# REDIS_PREFIX (the private prefix of their Redis keys) and DBS (the databases to drop
# afterwards, Auth's first).
start_separate() {
    local tag=$1
    # The server part of KISUM_TEST_DATABASE_URL; its query string (e.g. `?sslmode=disable`)
    # goes on every database URL derived from it.
    local base=${KISUM_TEST_DATABASE_URL%%\?*} params=""
    [[ $KISUM_TEST_DATABASE_URL == *\?* ]] && params="?${KISUM_TEST_DATABASE_URL#*\?}"
    local server=${base%/*}
    local suffix
    suffix="$(date +%s)_$$"
    DBS=()
    for db in auth core finance; do
        DBS+=("kisum_${tag}_${db}_$suffix")
        psql -q "$KISUM_TEST_DATABASE_URL" -c "CREATE DATABASE kisum_${tag}_${db}_$suffix" >/dev/null
    done
    A=$(free_port) I=$(free_port) C=$(free_port) M=$(free_port) W=$(free_port)
    KEY="$tag-service-key-$suffix"
    WEBHOOK_SECRET="whsec_$tag-$suffix-webhook"
    REDIS_PREFIX="$tag-$suffix:"
    "$KISUM" keys generate --alg ES256 --dir "$WORK/keys" >"$LOGS/keys.log" 2>&1 || {
        cat "$LOGS/keys.log" >&2
        exit 1
    }
    local kid
    kid=$(basename "$(ls "$WORK"/keys/*.pem)" .pem)
    local common=(KISUM_MODE=development KISUM_REDIS_URL="$KISUM_TEST_REDIS_URL" KISUM_REDIS_PREFIX="$REDIS_PREFIX")

    env "${common[@]}" KISUM_DATABASE_URL="$server/kisum_${tag}_core_$suffix$params" \
        KISUM_INTERNAL_LISTEN="127.0.0.1:$C" KISUM_INTERNAL_API_KEYS="auth:$KEY" \
        KISUM_WEBHOOK_LISTEN="127.0.0.1:$W" KISUM_STRIPE_WEBHOOK_SECRETS="$WEBHOOK_SECRET" \
        KISUM_STRIPE_PRICE_MAP="price_smoke_basic=package:basic,price_smoke_finance=addon:finance" \
        "$KISUM" core >"$LOGS/core.log" 2>&1 &
    PIDS+=($!)
    wait_healthy "http://127.0.0.1:$C" core "${PIDS[-1]}"
    wait_healthy "http://127.0.0.1:$W" core "${PIDS[-1]}"

    env "${common[@]}" KISUM_DATABASE_URL="$server/kisum_${tag}_auth_$suffix$params" \
        KISUM_LISTEN="127.0.0.1:$A" KISUM_INTERNAL_LISTEN="127.0.0.1:$I" \
        KISUM_INTERNAL_API_KEYS="finance:$KEY" KISUM_INTERNAL_API_KEY="$KEY" \
        KISUM_SIGNING_KEYS_DIR="$WORK/keys" KISUM_ACTIVE_KID="$kid" \
        KISUM_ISSUER="http://127.0.0.1:$A" KISUM_AUDIENCE=kisum \
        KISUM_PUBLIC_URL="http://127.0.0.1:$A" KISUM_CORE_URL="http://127.0.0.1:$C" \
        "$KISUM" auth >"$LOGS/auth.log" 2>&1 &
    PIDS+=($!)
    wait_healthy "http://127.0.0.1:$A" auth "${PIDS[-1]}"

    env "${common[@]}" KISUM_DATABASE_URL="$server/kisum_${tag}_finance_$suffix$params" \
        KISUM_LISTEN="127.0.0.1:$M" KISUM_INTERNAL_API_KEY="$KEY" \
        KISUM_ISSUER="http://127.0.0.1:$A" KISUM_AUDIENCE=kisum \
        KISUM_AUTH_URL="http://127.0.0.1:$A" KISUM_AUTH_INTERNAL_URL="http://127.0.0.1:$I" \
        "$KISUM" module --name finance >"$LOGS/finance.log" 2>&1 &
    PIDS+=($!)
    wait_healthy "http://127.0.0.1:$M" finance "${PIDS[-1]}"
}

drop_dbs() {
    for db in "${DBS[@]}"; do
        psql -q "$KISUM_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
}

# shellcheck shell=bash
# Helpers for starting Kisum deployments on this machine (sourced by ci-smoke.sh, the restore
# drills, load-separate.sh and bench-http.sh). The caller sets KISUM (the binary), WORK (a scratch
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
    # The Redis keys of a deployment `separate_setup` made.
    if [[ -n ${REDIS_PREFIX:-} && -n ${KISUM_TEST_REDIS_URL:-} ]]; then
        redis-cli -u "$KISUM_TEST_REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" \
            | xargs -r redis-cli -u "$KISUM_TEST_REDIS_URL" del >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}

# free_port: a loopback port that binds now, picked at random below Linux's ephemeral range
# (32768-60999). A port the kernel hands out for `:0` is back in that range once released, and any
# outgoing connection (a guard fetching JWKS, a pool connecting to PostgreSQL) may take it before
# the server we start binds it: `kisum dev` once failed CI so ("Address already in use"). Ports
# handed out earlier in this run are remembered, so `A=$(free_port) I=$(free_port)` never repeats.
free_port() {
    python3 - "${WORK:-${TMPDIR:-/tmp}}/.kisum-ports-$$" <<'PY'
import random, socket, sys

taken_file = sys.argv[1]
try:
    with open(taken_file) as f:
        taken = set(f.read().split())
except FileNotFoundError:
    taken = set()
for _ in range(1000):
    port = random.randint(20000, 32767)
    if str(port) in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    with open(taken_file, "a") as f:
        f.write(f"{port}\n")
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port in 20000-32767")
PY
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

# start_separate TAG: `separate_setup TAG`, then `separate_start`.
start_separate() {
    separate_setup "$1"
    separate_start
}

# separate_setup TAG: a fresh PostgreSQL database per component, a signing key, a certificate
# key and the secrets of a deployment of `kisum core`, `kisum auth` and `kisum module --name
# finance` on free loopback ports with Redis. Sets A (Auth public), I (Auth internal), C (Core),
# M (finance), W (Core's Stripe webhook listener, prices `price_smoke_basic` → package `basic`,
# `price_smoke_finance` → add-on `finance`) and L (Core's licence-key listener) ports,
# WEBHOOK_SECRET (its signing secret), KEY (service key), SECRET_KEY (Auth's
# KISUM_SECRET_KEY), REDIS_PREFIX (the private prefix of their Redis keys), SIGNING_KEYS and
# CERT_KEYS (the key directories), DB_SERVER and DB_PARAMS (the server part and query string
# of KISUM_TEST_DATABASE_URL), AUTH_DB, CORE_DB, FINANCE_DB (the databases the components use)
# and DBS (the databases to drop afterwards, Auth's first).
separate_setup() {
    local tag=$1
    # The server part of KISUM_TEST_DATABASE_URL; its query string (e.g. `?sslmode=disable`)
    # goes on every database URL derived from it.
    local base=${KISUM_TEST_DATABASE_URL%%\?*}
    DB_PARAMS=""
    [[ $KISUM_TEST_DATABASE_URL == *\?* ]] && DB_PARAMS="?${KISUM_TEST_DATABASE_URL#*\?}"
    DB_SERVER=${base%/*}
    local suffix
    suffix="$(date +%s)_$$"
    DBS=()
    for db in auth core finance; do
        DBS+=("kisum_${tag}_${db}_$suffix")
        psql -q "$KISUM_TEST_DATABASE_URL" -c "CREATE DATABASE kisum_${tag}_${db}_$suffix" >/dev/null
    done
    AUTH_DB=${DBS[0]} CORE_DB=${DBS[1]} FINANCE_DB=${DBS[2]}
    A=$(free_port) I=$(free_port) C=$(free_port) M=$(free_port) W=$(free_port) L=$(free_port)
    KEY="$tag-service-key-$suffix"
    WEBHOOK_SECRET="whsec_$tag-$suffix-webhook"
    REDIS_PREFIX="$tag-$suffix:"
    SECRET_KEY="k1:$(head -c 32 /dev/urandom | base64)"
    SIGNING_KEYS=$WORK/keys CERT_KEYS=$WORK/cert-keys
    { "$KISUM" keys generate --alg ES256 --dir "$SIGNING_KEYS" &&
        "$KISUM" keys generate --purpose certificates --dir "$CERT_KEYS"; } >"$LOGS/keys.log" 2>&1 || {
        cat "$LOGS/keys.log" >&2
        exit 1
    }
}

# separate_start: starts Core, Auth and the finance backend as `separate_setup` set them up, on
# the databases AUTH_DB, CORE_DB and FINANCE_DB, and waits until each is healthy.
separate_start() {
    local kid
    kid=$(basename "$(ls "$SIGNING_KEYS"/*.pem)" .pem)
    local common=(KISUM_MODE=development KISUM_REDIS_URL="$KISUM_TEST_REDIS_URL" KISUM_REDIS_PREFIX="$REDIS_PREFIX")

    env "${common[@]}" KISUM_DATABASE_URL="$DB_SERVER/$CORE_DB$DB_PARAMS" \
        KISUM_INTERNAL_LISTEN="127.0.0.1:$C" KISUM_INTERNAL_API_KEYS="auth:$KEY" \
        KISUM_WEBHOOK_LISTEN="127.0.0.1:$W" KISUM_STRIPE_WEBHOOK_SECRETS="$WEBHOOK_SECRET" \
        KISUM_STRIPE_PRICE_MAP="price_smoke_basic=package:basic,price_smoke_finance=addon:finance" \
        KISUM_CERT_KEYS_DIR="$CERT_KEYS" KISUM_LICENSING_LISTEN="127.0.0.1:$L" \
        "$KISUM" core >>"$LOGS/core.log" 2>&1 &
    PIDS+=($!)
    wait_healthy "http://127.0.0.1:$C" core "${PIDS[-1]}"
    wait_healthy "http://127.0.0.1:$W" core "${PIDS[-1]}"
    wait_healthy "http://127.0.0.1:$L" core "${PIDS[-1]}"

    env "${common[@]}" KISUM_DATABASE_URL="$DB_SERVER/$AUTH_DB$DB_PARAMS" \
        KISUM_LISTEN="127.0.0.1:$A" KISUM_INTERNAL_LISTEN="127.0.0.1:$I" \
        KISUM_INTERNAL_API_KEYS="finance:$KEY" KISUM_INTERNAL_API_KEY="$KEY" \
        KISUM_SIGNING_KEYS_DIR="$SIGNING_KEYS" KISUM_ACTIVE_KID="$kid" KISUM_SECRET_KEY="$SECRET_KEY" \
        KISUM_ISSUER="http://127.0.0.1:$A" KISUM_AUDIENCE=kisum \
        KISUM_PUBLIC_URL="http://127.0.0.1:$A" KISUM_CORE_URL="http://127.0.0.1:$C" \
        "$KISUM" auth >>"$LOGS/auth.log" 2>&1 &
    PIDS+=($!)
    wait_healthy "http://127.0.0.1:$A" auth "${PIDS[-1]}"

    env "${common[@]}" KISUM_DATABASE_URL="$DB_SERVER/$FINANCE_DB$DB_PARAMS" \
        KISUM_LISTEN="127.0.0.1:$M" KISUM_INTERNAL_API_KEY="$KEY" \
        KISUM_ISSUER="http://127.0.0.1:$A" KISUM_AUDIENCE=kisum \
        KISUM_AUTH_URL="http://127.0.0.1:$A" KISUM_AUTH_INTERNAL_URL="http://127.0.0.1:$I" \
        "$KISUM" module --name finance >>"$LOGS/finance.log" 2>&1 &
    PIDS+=($!)
    wait_healthy "http://127.0.0.1:$M" finance "${PIDS[-1]}"
}

drop_dbs() {
    for db in "${DBS[@]}"; do
        psql -q "$KISUM_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
}

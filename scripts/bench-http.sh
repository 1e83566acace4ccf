#!/usr/bin/env bash
# The HTTP harness of issue 14: throughput and latency of Kisum's hot paths as a user comparing
# auth servers would measure them, against the separate-process deployment on this machine.
#
#   KISUM_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
#   KISUM_TEST_REDIS_URL=redis://127.0.0.1:6379 RUNS=3 scripts/bench-http.sh
#
# Builds `kisum` and `bench-argon2` (benches/src/bin) in release mode, then per run:
#   1. starts `kisum core`, `kisum auth` and `kisum module --name finance` (scripts/lib/separate.sh:
#      fresh PostgreSQL databases, dropped afterwards) on a private `redis-server` on a free port
#      (BENCH_REDIS=shared: the Redis of KISUM_TEST_REDIS_URL under a private key prefix, whose
#      keys are deleted afterwards);
#   2. seeds the demo catalog and company `acme` (scripts/seed-demo.sh) and MEMBERS members in
#      all (the owner, member@acme.test and bench-NNNN@acme.test, each a finance viewer with the
#      finance module; registered and added through the APIs, their addresses then marked proven
#      in Auth's database, standing in for the emailed link), and INVOICES invoices;
#   3. measures the raw argon2id verification rate (`bench-argon2`, Auth's parameters, one thread
#      per core, ARGON2_SECS seconds) while the servers idle, and the same through Auth's
#      hashing gate from CONNECTIONS tasks (printed only: what the gate's hand-offs cost);
#   4. drives each scenario with wrk (THREADS threads, CONNECTIONS connections, a WARMUP_SECS
#      warm-up run, then DURATION_SECS, LOGIN_SECS for sign-in), through scripts/lib/bench-http.lua:
#        POST /v1/auth/login            cycling over the members' emails
#        GET  /v1/auth/session          cycling over one access token per member
#        GET  /v1/auth/me/access        same, with X-Org: acme
#        GET  /.well-known/jwks.json
#        POST /v1/auth/refresh          CONNECTIONS fresh sessions, each a chain of refreshes
#                                       (every token spent exactly once; the warm-up spends
#                                       other sessions)
#        GET  /v1/finance/invoices      guarded, cycling over the members' tokens, X-Org: acme
#        the same handler, unguarded    `kisum module --bench-unguarded-twin true` (development
#                                       mode only): the same query and JSON answer, no guard;
#                                       wrk sends it the guarded scenario's very requests (the
#                                       same tokens, ignored; X-Org: the company's id), so wrk's
#                                       own work, on the same cores, is the same in both
# and prints req/s, p50, p99 and the non-2xx answers per scenario (any non-2xx or socket error
# makes the exit status 1), the argon2 rate, sign-in as a % of it and guarded as a % of
# unguarded; with RUNS > 1, the medians too. wrk's output and the servers' logs are kept in
# $CARGO_TARGET_DIR/bench-http/ (target/bench-http/).
#
# Sign-in limits are raised for the bench (KISUM_LOGIN_LIMIT_PER_*, KISUM_REGISTER_LIMIT_PER_IP):
# the limiter is still consulted on every sign-in, it just never refuses.
#
# Needs wrk (Debian: apt-get install wrk), curl, jq, psql, python3, and redis-server unless
# BENCH_REDIS=shared. Everything shares this machine's cores: the figures are the deployment's
# floor on it, and only comparable between runs on an otherwise idle machine.
#
# Settings (environment):
#   RUNS=1  THREADS=1  CONNECTIONS=32  WARMUP_SECS=2  DURATION_SECS=10  LOGIN_SECS=20
#   MEMBERS=200  INVOICES=10  ARGON2_SECS=10  BENCH_REDIS=private|shared
#   BUILD=1     0: use the binaries already built in $CARGO_TARGET_DIR/release
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KISUM_TEST_DATABASE_URL:?set KISUM_TEST_DATABASE_URL (a PostgreSQL server URL)}"
RUNS=${RUNS:-1}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
WARMUP_SECS=${WARMUP_SECS:-2}
DURATION_SECS=${DURATION_SECS:-10}
LOGIN_SECS=${LOGIN_SECS:-20}
MEMBERS=${MEMBERS:-200}
INVOICES=${INVOICES:-10}
ARGON2_SECS=${ARGON2_SECS:-10}
BENCH_REDIS=${BENCH_REDIS:-private}
BUILD=${BUILD:-1}
PASSWORD=kisum-demo-password
ORG=acme

for n in RUNS THREADS CONNECTIONS WARMUP_SECS DURATION_SECS LOGIN_SECS MEMBERS INVOICES ARGON2_SECS; do
    [[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 ]] || { echo "bench-http: $n must be a positive whole number" >&2; exit 2; }
done
((MEMBERS >= 2)) || { echo "bench-http: MEMBERS must be at least 2 (the owner and member@acme.test)" >&2; exit 2; }
case $BENCH_REDIS in
    private) need_redis=redis-server ;;
    shared)
        : "${KISUM_TEST_REDIS_URL:?set KISUM_TEST_REDIS_URL for BENCH_REDIS=shared}"
        need_redis=redis-cli
        ;;
    *) echo "bench-http: BENCH_REDIS is private or shared" >&2; exit 2 ;;
esac
for tool in wrk curl jq psql python3 "$need_redis"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        hint=""
        [[ $tool == wrk ]] && hint=" (Debian: apt-get install wrk)"
        echo "bench-http: $tool is required$hint" >&2
        exit 1
    fi
done

TARGET=${CARGO_TARGET_DIR:-$PWD/target}
if [[ $BUILD == 1 ]]; then
    # Workspace-wide, so features unify as in the test build (no second compile of the dependencies).
    cargo build -q --release --workspace --bin kisum --bin bench-argon2
fi
KISUM=$TARGET/release/kisum
ARGON2=$TARGET/release/bench-argon2
for bin in "$KISUM" "$ARGON2"; do
    [[ -x $bin ]] || { echo "bench-http: $bin is missing (run with BUILD=1)" >&2; exit 1; }
done
OUT=$TARGET/bench-http
rm -rf "$OUT"
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
LUA=$PWD/scripts/lib/bench-http.lua
HELPER=$PWD/scripts/lib/bench_http.py

# ---- the deployment of one run, and its cleanup ---------------------------------------------
WORK=""
PIDS=()
DBS=()
REDIS_PID=""
REDIS_PREFIX=""
# shellcheck source=scripts/lib/separate.sh
. scripts/lib/separate.sh

cleanup() {
    stop_all
    drop_dbs
    DBS=()
    if [[ -n $REDIS_PID ]]; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    fi
    if [[ $BENCH_REDIS == shared && -n $REDIS_PREFIX ]]; then
        redis-cli -u "$KISUM_TEST_REDIS_URL" --scan --pattern "$REDIS_PREFIX*" |
            xargs -r -n 500 redis-cli -u "$KISUM_TEST_REDIS_URL" del >/dev/null 2>&1 || true
        REDIS_PREFIX=""
    fi
    if [[ -n $WORK ]]; then
        rm -rf "$WORK"
        WORK=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_redis() {
    if [[ $BENCH_REDIS == shared ]]; then return 0; fi
    local port
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$WORK" >"$LOGS/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 50); do
        if redis-cli -p "$port" ping >/dev/null 2>&1; then
            KISUM_TEST_REDIS_URL=redis://127.0.0.1:$port
            return 0
        fi
        sleep 0.1
    done
    echo "bench-http: redis-server did not start; its log:" >&2
    cat "$LOGS/redis.log" >&2
    exit 1
}

# Read by `kisum auth` (limits) and `kisum module` (the unguarded twin); the others ignore them.
export KISUM_LOGIN_LIMIT_PER_IP=1000000/1m KISUM_LOGIN_LIMIT_PER_EMAIL=1000000/1m \
    KISUM_REGISTER_LIMIT_PER_IP=1000000/1m KISUM_BENCH_UNGUARDED_TWIN=true

# ---- one scenario ---------------------------------------------------------------------------
# measure RUN NAME SECS [ENV=VALUE…] -- WRK_ARGS…: a warm-up run, then the measured one.
# BENCH_WARMUP_TOKENS, when given, replaces BENCH_TOKENS for the warm-up (refresh chains).
measure() {
    local run=$1 name=$2 secs=$3
    shift 3
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local slug
    slug=$(tr -cs 'a-z0-9' '-' <<<"${name,,}")
    slug=${slug#-}
    slug=${slug%-}
    local warm=("${envs[@]}")
    for i in "${!warm[@]}"; do
        [[ ${warm[$i]} == BENCH_WARMUP_TOKENS=* ]] && warm[i]=BENCH_TOKENS=${warm[$i]#*=}
    done
    local common=(-t "$THREADS" -c "$CONNECTIONS" --timeout 10s -s "$LUA")
    local log
    for log in "$slug-warmup" "$slug"; do
        if [[ $log == "$slug" ]]; then
            env BENCH_THREADS="$THREADS" "${envs[@]}" wrk "${common[@]}" -d "${secs}s" --latency "$@"
        else
            env BENCH_THREADS="$THREADS" "${warm[@]}" wrk "${common[@]}" -d "${WARMUP_SECS}s" "$@"
        fi >"$LOGS/wrk-$log.log" 2>&1 || {
            echo "bench-http: wrk failed on $name:" >&2
            cat "$LOGS/wrk-$log.log" >&2
            exit 1
        }
    done
    local line
    line=$(sed -n 's/^BENCH //p' "$LOGS/wrk-$slug.log")
    [[ -n $line ]] || { echo "bench-http: no result from wrk for $name" >&2; cat "$LOGS/wrk-$slug.log" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$run" "$name" "$line" >>"$RESULTS"
    printf '  %-40s %s\n' "$name" "$line"
}

# expect_200 WHAT curl-args…: one request that must answer 200 before a scenario is driven.
expect_200() {
    local what=$1
    shift
    local status
    status=$(curl -sS -o "$WORK/check.json" -w '%{http_code}' --max-time 10 "$@" || echo 000)
    if [[ $status != 200 ]]; then
        echo "bench-http: $what answered $status: $(head -c 400 "$WORK/check.json" 2>/dev/null)" >&2
        exit 1
    fi
}

run_once() {
    local run=$1
    LOGS=$OUT/run-$run
    mkdir -p "$LOGS"
    WORK=$(mktemp -d)
    echo "==> run $run of $RUNS ($(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg))"
    start_redis
    start_separate bench
    local auth=http://127.0.0.1:$A core=http://127.0.0.1:$C module=http://127.0.0.1:$M
    local base=${KISUM_TEST_DATABASE_URL%%\?*} params=""
    [[ $KISUM_TEST_DATABASE_URL == *\?* ]] && params="?${KISUM_TEST_DATABASE_URL#*\?}"
    local auth_db=${base%/*}/${DBS[0]}$params

    echo "  seeding: the catalog, company $ORG, $MEMBERS members, $INVOICES invoices"
    KISUM_INTERNAL_API_KEY=$KEY scripts/seed-demo.sh "$auth" "$core" >"$LOGS/seed.log"
    local company
    company=$(sed -n 's/^seeded company acme (\(.*\)).*/\1/p' "$LOGS/seed.log")
    [[ -n $company ]] || { echo "bench-http: seed-demo.sh named no company" >&2; exit 1; }
    local emails=$WORK/emails new=$WORK/new-emails
    seq -f 'bench-%04g@acme.test' 1 $((MEMBERS - 2)) >"$new"
    { echo owner@acme.test; echo member@acme.test; cat "$new"; } >"$emails"
    python3 "$HELPER" register "$auth" "$PASSWORD" "$new"
    # The seeded accounts prove their addresses (what the emailed link or code would do), so
    # they join as active members; member@acme.test, invited by seed-demo.sh, is accepted. No
    # access has been resolved yet, so nothing cached can disagree.
    psql -q -v ON_ERROR_STOP=1 "$auth_db" \
        -c "UPDATE users SET email_verified = TRUE WHERE NOT email_verified" \
        -c "UPDATE memberships SET status = 'active' WHERE status = 'invited'" >/dev/null
    local owner
    owner=$(curl -fsS "$auth/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"owner@acme.test\",\"password\":\"$PASSWORD\"}" | jq -r .access_token)
    python3 "$HELPER" add "$auth" "$ORG" "$owner" "$new"
    python3 "$HELPER" invoices "$module" "$ORG" "$owner" "$INVOICES"

    echo "  raw argon2id verification, ${ARGON2_SECS}s"
    local argon2
    argon2=$("$ARGON2" --secs "$ARGON2_SECS")
    echo "  $argon2"
    echo "  $("$ARGON2" --secs "$ARGON2_SECS" --gate "$CONNECTIONS")"
    printf '%s\targon2\t%s\n' "$run" "$(sed -E \
        's|^argon2id verify: ([0-9.]+)/s \(([0-9]+) in ([0-9.]+) s on ([0-9]+) threads\)$|rate=\1 count=\2 seconds=\3 threads=\4|' \
        <<<"$argon2")" >>"$RESULTS"

    expect_200 "sign-in" "$auth/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"member@acme.test\",\"password\":\"$PASSWORD\"}"
    measure "$run" "POST /v1/auth/login" "$LOGIN_SECS" \
        BENCH_MODE=login BENCH_EMAILS="$emails" BENCH_PASSWORD="$PASSWORD" -- "$auth/v1/auth/login"

    # Tokens minted after the sign-in scenario, so the sessions it created (up to Auth's cap per
    # user) never push these out: one session per member, and two sets of refresh chains.
    local access=$WORK/access refresh=$WORK/refresh
    python3 "$HELPER" mint "$auth" "$PASSWORD" "$emails" "$MEMBERS" "$access" "$WORK/unused"
    python3 "$HELPER" mint "$auth" "$PASSWORD" "$emails" $((2 * CONNECTIONS)) "$WORK/unused" "$refresh"
    head -n "$CONNECTIONS" "$refresh" >"$WORK/refresh-warmup"
    tail -n "$CONNECTIONS" "$refresh" >"$WORK/refresh-measured"
    local token
    token=$(head -n 1 "$access")
    local rotate=(BENCH_MODE=rotate BENCH_TOKENS="$access" BENCH_ORG="$ORG")

    expect_200 "GET /v1/auth/session" "$auth/v1/auth/session" -H "authorization: Bearer $token"
    measure "$run" "GET /v1/auth/session" "$DURATION_SECS" "${rotate[@]}" -- "$auth/v1/auth/session"
    expect_200 "GET /v1/auth/me/access" "$auth/v1/auth/me/access" -H "authorization: Bearer $token" -H "x-org: $ORG"
    measure "$run" "GET /v1/auth/me/access (X-Org)" "$DURATION_SECS" "${rotate[@]}" -- "$auth/v1/auth/me/access"
    expect_200 "GET /.well-known/jwks.json" "$auth/.well-known/jwks.json"
    measure "$run" "GET /.well-known/jwks.json" "$DURATION_SECS" BENCH_MODE=plain -- "$auth/.well-known/jwks.json"
    measure "$run" "POST /v1/auth/refresh (chained)" "$DURATION_SECS" BENCH_MODE=refresh \
        BENCH_TOKENS="$WORK/refresh-measured" BENCH_WARMUP_TOKENS="$WORK/refresh-warmup" -- "$auth/v1/auth/refresh"
    expect_200 "GET /v1/finance/invoices" "$module/v1/finance/invoices" -H "authorization: Bearer $token" -H "x-org: $ORG"
    measure "$run" "GET /v1/finance/invoices (guarded)" "$DURATION_SECS" "${rotate[@]}" -- "$module/v1/finance/invoices"
    local twin=$module/bench/unguarded/v1/finance/invoices
    expect_200 "the unguarded twin" "$twin" -H "x-org: $company"
    # The guarded scenario's requests (its tokens, ignored here), with the company's id as
    # X-Org: wrk does the same work for both, so the ratio is the servers' alone.
    measure "$run" "the same handler, unguarded" "$DURATION_SECS" BENCH_MODE=rotate \
        BENCH_TOKENS="$access" BENCH_ORG="$company" -- "$twin"
    # The two answers are the same list: equal handler work.
    local guarded_body twin_body
    guarded_body=$(curl -fsS "$module/v1/finance/invoices" -H "authorization: Bearer $token" -H "x-org: $ORG")
    twin_body=$(curl -fsS "$twin" -H "x-org: $company")
    [[ $guarded_body == "$twin_body" ]] || { echo "bench-http: the unguarded twin answers another list" >&2; exit 1; }
    echo "  (load average after the run: $(cut -d' ' -f1-3 /proc/loadavg))"
    cleanup
}

echo "bench-http: $RUNS run(s); wrk -t$THREADS -c$CONNECTIONS, ${WARMUP_SECS}s warm-up," \
    "${DURATION_SECS}s per scenario (${LOGIN_SECS}s sign-in); $MEMBERS members; Redis: $BENCH_REDIS"
for run in $(seq 1 "$RUNS"); do
    run_once "$run"
done
echo
python3 "$HELPER" summary "$RESULTS" "$RUNS"
if awk -F'\t' '$2 != "argon2" && ($3 !~ / non2xx=0 / || $3 !~ / errors=0$/) { bad = 1 } END { exit !bad }' "$RESULTS"; then
    echo "bench-http: FAIL: some scenario had non-2xx answers or socket errors (see $OUT)" >&2
    exit 1
fi

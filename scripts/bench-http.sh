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
#   3. measures the raw argon2id verification rate through Auth's hashing gate from CONNECTIONS
#      tasks, ARGON2_SECS seconds (printed only: what the gate's hand-offs cost);
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
# The two ratios of issue 14 are measured interleaved (decision 0047): sign-in alternates with
# the raw argon2id verification rate (`bench-argon2`, Auth's parameters, one thread per core, the
# servers idle; each sign-in window is followed by one more sign-in, which drains Auth's hashing
# queue before the next raw window) in windows of WINDOW_SECS, and the guarded scenario with its
# unguarded twin in windows of PAIR_WINDOW_SECS (decision 0050), in the order a b b a, repeated,
# each side LOGIN_SECS or DURATION_SECS in all. A side's rate is its requests over its measured
# seconds; its p50 the median of its windows' p50s, its p99 the worst window's. Every window is
# in the logs.
#
# It prints req/s, p50, p99 and the non-2xx answers per scenario (any non-2xx or socket error
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
#   MEMBERS=200  INVOICES=10  ARGON2_SECS=10  WINDOW_SECS=2  PAIR_WINDOW_SECS=1
#   BENCH_REDIS=private|shared
#   BUILD=1     0: use the binaries already built in $CARGO_TARGET_DIR/release
#   ONLY=       a bash regular expression: only the scenarios whose name matches it (e.g.
#               ONLY=refresh; a pair runs when either name matches; for profiling, not figures)
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
WINDOW_SECS=${WINDOW_SECS:-2}
PAIR_WINDOW_SECS=${PAIR_WINDOW_SECS:-1}
ONLY=${ONLY:-}
BENCH_REDIS=${BENCH_REDIS:-private}
BUILD=${BUILD:-1}
PASSWORD=kisum-demo-password
ORG=acme

for n in RUNS THREADS CONNECTIONS WARMUP_SECS DURATION_SECS LOGIN_SECS MEMBERS INVOICES ARGON2_SECS WINDOW_SECS PAIR_WINDOW_SECS; do
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
# slug NAME: the file-name form of a scenario's name.
slug() {
    local s
    s=$(tr -cs 'a-z0-9' '-' <<<"${1,,}")
    s=${s#-}
    printf '%s' "${s%-}"
}

# split_envs ENV=VALUE… -- WRK_ARGS…: fills ENVS (BENCH_WARMUP_TOKENS, when given, replaces
# BENCH_TOKENS for the warm-up: refresh chains), WARM_ENVS and WRK_ARGS.
split_envs() {
    ENVS=()
    while [[ $1 != -- ]]; do ENVS+=("$1"); shift; done
    shift
    WRK_ARGS=("$@")
    WARM_ENVS=()
    local e
    for e in "${ENVS[@]}"; do
        if [[ $e == BENCH_WARMUP_TOKENS=* ]]; then
            WARM_ENVS+=("BENCH_TOKENS=${e#*=}")
        else
            WARM_ENVS+=("$e")
        fi
    done
}

# wrk_window LOG SECS LATENCY(0|1) ENV=VALUE… -- WRK_ARGS…: one wrk run into $LOGS/wrk-LOG.log.
wrk_window() {
    local log=$1 secs=$2 latency=$3
    shift 3
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local common=(-t "$THREADS" -c "$CONNECTIONS" --timeout 10s -s "$LUA" -d "${secs}s")
    ((latency)) && common+=(--latency)
    env BENCH_THREADS="$THREADS" "${envs[@]}" wrk "${common[@]}" "$@" >"$LOGS/wrk-$log.log" 2>&1 || {
        echo "bench-http: wrk failed ($log):" >&2
        cat "$LOGS/wrk-$log.log" >&2
        exit 1
    }
    grep -q '^BENCH ' "$LOGS/wrk-$log.log" || {
        echo "bench-http: no result from wrk ($log)" >&2
        cat "$LOGS/wrk-$log.log" >&2
        exit 1
    }
}

# record RUN NAME FIELDS: a scenario's result line, in the results and on the terminal.
record() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"
    printf '  %-40s %s\n' "$2" "$3"
}

# wanted NAME…: whether ONLY (when set) matches one of the names.
wanted() {
    [[ -z $ONLY ]] && return 0
    local n
    for n in "$@"; do [[ $n =~ $ONLY ]] && return 0; done
    return 1
}

# measure RUN NAME SECS [ENV=VALUE…] -- WRK_ARGS…: a warm-up run, then the measured one.
measure() {
    local run=$1 name=$2 secs=$3
    wanted "$name" || return 0
    shift 3
    split_envs "$@"
    local s
    s=$(slug "$name")
    wrk_window "$s-warmup" "$WARMUP_SECS" 0 "${WARM_ENVS[@]}" -- "${WRK_ARGS[@]}"
    wrk_window "$s" "$secs" 1 "${ENVS[@]}" -- "${WRK_ARGS[@]}"
    record "$run" "$name" "$(sed -n 's/^BENCH //p' "$LOGS/wrk-$s.log")"
}

# The two sides of a ratio are measured interleaved (decision 0047): windows of WINDOW_SECS
# (sign-in against argon2id) or PAIR_WINDOW_SECS (guarded against unguarded, decision 0050) in
# the order a b b a, repeated, so both sides see the same moments of this guest's speed (a
# linear drift cancels exactly) instead of one following the other by tens of seconds.
#
# windows SECS [WINDOW]: how many windows of WINDOW (default WINDOW_SECS) each side gets for
# SECS in all (even, at least 2).
windows() {
    local k=$(( $1 / ${2:-$WINDOW_SECS} ))
    k=$(( k - k % 2 ))
    ((k >= 2)) || k=2
    printf '%s' "$k"
}

# window_order K: the sides of 2 × K windows (K windows each), a and b.
window_order() {
    local r
    for r in $(seq 1 $(( $1 / 2 ))); do printf '%s\n' a b b a; done
}

# argon2_window N SECS: one raw argon2id window, its line appended to $LOGS/argon2.windows.
argon2_window() {
    local line
    line=$("$ARGON2" --secs "$2")
    printf '%s\n' "$line" >>"$LOGS/argon2.windows"
    printf '    argon2 window %-3s %s\n' "$1" "$line"
}

# drain_login AUTH: one sign-in that must answer 200, sent after a sign-in window. Auth's hashing
# queue is first-in first-out, so when it answers, the window's queued sign-ins have left the
# queue: none of their hashing runs into the next raw argon2id window.
drain_login() {
    expect_200 "sign-in (drain)" "$1/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"member@acme.test\",\"password\":\"$PASSWORD\"}"
    sleep 0.2
}

# login_vs_argon2 RUN AUTH EMAILS: sign-in interleaved with the raw argon2id rate, each side
# LOGIN_SECS in windows of WINDOW_SECS; the servers idle during the argon2 windows.
login_vs_argon2() {
    local run=$1 auth=$2 emails=$3 name="POST /v1/auth/login"
    wanted "$name" || return 0
    local k secs=$WINDOW_SECS
    k=$(windows "$LOGIN_SECS")
    local s envs=(BENCH_MODE=login BENCH_EMAILS="$emails" BENCH_PASSWORD="$PASSWORD")
    s=$(slug "$name")
    echo "  sign-in and the raw argon2id rate, interleaved (windows of ${WINDOW_SECS}s: a b b a …)"
    : >"$LOGS/argon2.windows"
    : >"$LOGS/$s.windows"
    wrk_window "$s-warmup" "$WARMUP_SECS" 0 "${envs[@]}" -- "$auth/v1/auth/login"
    drain_login "$auth"
    local n=0 side
    for side in $(window_order "$k"); do
        n=$((n + 1))
        if [[ $side == a ]]; then
            argon2_window "$n" "$secs"
        else
            wrk_window "$s-$n" "$secs" 1 "${envs[@]}" -- "$auth/v1/auth/login"
            sed -n 's/^BENCH //p' "$LOGS/wrk-$s-$n.log" >>"$LOGS/$s.windows"
            printf '    sign-in window %-3s %s\n' "$n" "$(sed -n 's/^BENCH //p' "$LOGS/wrk-$s-$n.log")"
            drain_login "$auth"
        fi
    done
    record "$run" "$name" "$(python3 "$HELPER" combine wrk "$LOGS/$s.windows")"
    printf '%s\targon2\t%s\n' "$run" "$(python3 "$HELPER" combine argon2 "$LOGS/argon2.windows")" >>"$RESULTS"
}

# paired RUN NAME_A NAME_B SECS ENVS_A… -- URL_A -- ENVS_B… -- URL_B: two wrk scenarios
# interleaved, SECS each in all in windows of WINDOW_SECS, after a warm-up of each.
paired() {
    local run=$1 name_a=$2 name_b=$3 secs=$4
    wanted "$name_a" "$name_b" || return 0
    shift 4
    local envs_a=() envs_b=() url_a url_b
    while [[ $1 != -- ]]; do envs_a+=("$1"); shift; done
    url_a=$2
    shift 3
    while [[ $1 != -- ]]; do envs_b+=("$1"); shift; done
    url_b=$2
    local k each=$PAIR_WINDOW_SECS
    k=$(windows "$secs" "$each")
    local sa sb
    sa=$(slug "$name_a")
    sb=$(slug "$name_b")
    : >"$LOGS/$sa.windows"
    : >"$LOGS/$sb.windows"
    wrk_window "$sa-warmup" "$WARMUP_SECS" 0 "${envs_a[@]}" -- "$url_a"
    wrk_window "$sb-warmup" "$WARMUP_SECS" 0 "${envs_b[@]}" -- "$url_b"
    local n=0 side s
    for side in $(window_order "$k"); do
        n=$((n + 1))
        if [[ $side == a ]]; then
            s=$sa
            wrk_window "$s-$n" "$each" 1 "${envs_a[@]}" -- "$url_a"
        else
            s=$sb
            wrk_window "$s-$n" "$each" 1 "${envs_b[@]}" -- "$url_b"
        fi
        sed -n 's/^BENCH //p' "$LOGS/wrk-$s-$n.log" >>"$LOGS/$s.windows"
    done
    record "$run" "$name_a" "$(python3 "$HELPER" combine wrk "$LOGS/$sa.windows")"
    record "$run" "$name_b" "$(python3 "$HELPER" combine wrk "$LOGS/$sb.windows")"
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

    # What the gate's hand-offs cost with nothing else running: printed, not a ratio's side.
    if wanted "POST /v1/auth/login"; then
        echo "  $("$ARGON2" --secs "$ARGON2_SECS" --gate "$CONNECTIONS")"
    fi

    expect_200 "sign-in" "$auth/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"member@acme.test\",\"password\":\"$PASSWORD\"}"
    login_vs_argon2 "$run" "$auth" "$emails"

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
    local twin=$module/bench/unguarded/v1/finance/invoices
    expect_200 "the unguarded twin" "$twin" -H "x-org: $company"
    # The twin gets the guarded scenario's requests (its tokens, ignored there), with the
    # company's id as X-Org: wrk does the same work for both, so the ratio is the servers' alone.
    paired "$run" "GET /v1/finance/invoices (guarded)" "the same handler, unguarded" "$DURATION_SECS" \
        "${rotate[@]}" -- "$module/v1/finance/invoices" -- \
        BENCH_MODE=rotate BENCH_TOKENS="$access" BENCH_ORG="$company" -- "$twin"
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

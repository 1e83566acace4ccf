#!/usr/bin/env bash
# Load figures for docs/benchmarks.md: sign-in, refresh, GET /v1/auth/me/access, a guarded
# GET /v1/finance/invoices, and the finance backend's bare GET /health (same server, same layer
# stack, no guard: the reference the guarded request is compared with).
#
#   scripts/load.sh AUTH_URL MODULE_URL
#   scripts/load.sh http://127.0.0.1:8080 http://127.0.0.1:8090
#
# Signs in as member@acme.test / kisum-demo-password with `X-Org: acme` (the `kisum dev` seed;
# on another deployment create that user, company and finance grant first, or override below).
# Prints requests/s and latency percentiles per endpoint.
#
# GET endpoints are driven by `oha` (found on PATH or in $OHA_ROOT/bin, else installed there
# with `cargo install oha --locked`); when oha is unavailable, or with KISUM_LOAD_TOOL=python,
# by a small thread-per-connection generator using only Python's standard library (it is held
# back by the GIL: its figures are a floor, not the servers' ceiling). Sign-in and refresh are
# always driven by that generator: each refresh spends its token (presenting a spent one revokes
# the session), so they run as one sequential chain per session.
#
# Rate limits (Auth's defaults): 10 sign-ins per email per 15 minutes and 30 per client address
# per 5 minutes. One run signs in 1 + LOGIN_SAMPLES + REFRESH_SESSIONS times (8 by default):
# leave 15 minutes between runs, or point KISUM_LOAD_EMAIL at another account.
#
# Settings (environment):
#   DURATION_SECS=10     length of each GET run
#   CONCURRENCY=16       connections of each GET run
#   LOGIN_SAMPLES=5      sequential sign-ins measured
#   REFRESH_SESSIONS=2   concurrent refresh chains (one sign-in each)
#   REFRESH_COUNT=100    refreshes per chain
#   KISUM_LOAD_EMAIL, KISUM_LOAD_PASSWORD, KISUM_LOAD_ORG   the account and company
#   KISUM_LOAD_TOOL=oha|python                              force a GET driver
#   OHA_ROOT=<repo>/target/tools                            where oha is installed
set -euo pipefail

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[[ $# -eq 2 ]] || usage
AUTH_URL=${1%/}
MODULE_URL=${2%/}

DURATION_SECS=${DURATION_SECS:-10}
CONCURRENCY=${CONCURRENCY:-16}
LOGIN_SAMPLES=${LOGIN_SAMPLES:-5}
REFRESH_SESSIONS=${REFRESH_SESSIONS:-2}
REFRESH_COUNT=${REFRESH_COUNT:-100}
EMAIL=${KISUM_LOAD_EMAIL:-member@acme.test}
PASSWORD=${KISUM_LOAD_PASSWORD:-kisum-demo-password}
ORG=${KISUM_LOAD_ORG:-acme}
REPO=$(cd "$(dirname "$0")/.." && pwd)
OHA_ROOT=${OHA_ROOT:-$REPO/target/tools}

for n in DURATION_SECS CONCURRENCY LOGIN_SAMPLES REFRESH_SESSIONS REFRESH_COUNT; do
    [[ ${!n} =~ ^[0-9]+$ ]] || { echo "load.sh: $n must be a whole number" >&2; exit 2; }
done
command -v python3 >/dev/null 2>&1 || { echo "load.sh: python3 is required" >&2; exit 1; }
if ((1 + LOGIN_SAMPLES + REFRESH_SESSIONS > 10)); then
    echo "load.sh: warning: $((1 + LOGIN_SAMPLES + REFRESH_SESSIONS)) sign-ins exceed the" \
        "default limit of 10 per email per 15 minutes; expect 429s" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
helper=$work/load.py

# ---- the standard-library generator -----------------------------------------------------------
cat >"$helper" <<'PY'
import http.client, json, math, sys, threading, time, urllib.parse

def conn_for(url):
    u = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    return cls(u.hostname, u.port, timeout=30), (u.path or "/") + (("?" + u.query) if u.query else "")

def call(conn, method, path, body=None, headers=None):
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    raw = r.read()
    return r.status, raw, time.perf_counter() - t0, r.getheader("Retry-After")

def fail(what, status, raw, retry_after=None):
    msg = f"load.sh: {what}: HTTP {status}: {raw[:300].decode(errors='replace')}"
    if status == 429:
        msg += f"\n  rate limited (Retry-After: {retry_after} s); see the header of scripts/load.sh"
    sys.exit(msg)

def login(auth, email, password, conn=None):
    c, _ = conn_for(auth) if conn is None else (conn, None)
    status, raw, took, retry = call(c, "POST", urllib.parse.urlsplit(auth).path + "/v1/auth/login",
                                    {"email": email, "password": password})
    if status != 200:
        fail(f"sign-in as {email}", status, raw, retry)
    body = json.loads(raw)
    return body["access_token"], body["refresh_token"], took

def pct(sorted_lat, p):
    if not sorted_lat:
        return float("nan")
    i = min(len(sorted_lat) - 1, max(0, math.ceil(p / 100 * len(sorted_lat)) - 1))
    return sorted_lat[i]

def report(name, tool, total, ok, wall, lat, extra=""):
    lat = sorted(lat)
    ms = lambda s: f"{s * 1000:9.2f}"
    rps = total / wall if wall > 0 else float("nan")
    print(f"{name:<28} {tool:<7} {total:>8} {ok:>8} {rps:>10.1f} "
          f"{ms(pct(lat, 50))} {ms(pct(lat, 90))} {ms(pct(lat, 99))} {ms(lat[-1] if lat else float('nan'))}"
          f"{('  ' + extra) if extra else ''}", flush=True)

def header():
    print(f"{'endpoint':<28} {'tool':<7} {'requests':>8} {'2xx':>8} {'req/s':>10} "
          f"{'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}", flush=True)

def cmd_token(auth, email, password):
    access, refresh, _ = login(auth, email, password)
    print(access, refresh)

def cmd_check(name, url, token, org):
    c, path = conn_for(url)
    h = {"Authorization": f"Bearer {token}", "X-Org": org} if token != "-" else {}
    status, raw, _, retry = call(c, "GET", path, headers=h)
    if status != 200:
        fail(f"GET {url} ({name})", status, raw, retry)

def cmd_login(auth, email, password, samples):
    lat, t0 = [], time.perf_counter()
    c, _ = conn_for(auth)
    for _ in range(int(samples)):
        _, _, took = login(auth, email, password, c)
        lat.append(took)
    report("POST /v1/auth/login", "python", len(lat), len(lat), time.perf_counter() - t0, lat,
           "sequential (argon2id)")

def cmd_refresh(auth, email, password, sessions, count):
    path = urllib.parse.urlsplit(auth).path + "/v1/auth/refresh"
    chains = []
    for _ in range(int(sessions)):
        chains.append(login(auth, email, password)[1])
    lat, ok, errors, lock = [], [0], [], threading.Lock()
    def chain(token):
        c, _ = conn_for(auth)
        mine = []
        for _ in range(int(count)):
            status, raw, took, retry = call(c, "POST", path, {"refresh_token": token})
            mine.append(took)
            if status != 200:
                with lock:
                    errors.append(f"HTTP {status}: {raw[:200].decode(errors='replace')}")
                break
            token = json.loads(raw)["refresh_token"]
            with lock:
                ok[0] += 1
        with lock:
            lat.extend(mine)
    threads = [threading.Thread(target=chain, args=(t,)) for t in chains]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    report("POST /v1/auth/refresh", "python", len(lat), ok[0], time.perf_counter() - t0, lat,
           f"{sessions} chain(s)")
    if errors:
        print(f"  refresh stopped early: {errors[0]}", file=sys.stderr)

def cmd_get(name, url, token, org, duration, concurrency):
    h = {"Authorization": f"Bearer {token}", "X-Org": org} if token != "-" else {}
    deadline_box = [0.0]
    lat, codes, lock = [], {}, threading.Lock()
    def worker():
        c, path = conn_for(url)
        mine, mycodes = [], {}
        while time.perf_counter() < deadline_box[0]:
            try:
                status, _, took, _ = call(c, "GET", path, headers=h)
            except (OSError, http.client.HTTPException):
                status, took = 0, 0.0
                c.close()
                c, path = conn_for(url)
            mine.append(took)
            mycodes[status] = mycodes.get(status, 0) + 1
        with lock:
            lat.extend(mine)
            for k, v in mycodes.items():
                codes[k] = codes.get(k, 0) + v
    threads = [threading.Thread(target=worker) for _ in range(int(concurrency))]
    t0 = time.perf_counter()
    deadline_box[0] = t0 + float(duration)
    for t in threads: t.start()
    for t in threads: t.join()
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    other = {k: v for k, v in codes.items() if not 200 <= k < 300}
    report(name, "python", len(lat), ok, time.perf_counter() - t0, lat,
           f"other statuses: {other}" if other else "")

def cmd_oha(name):
    """Reads oha's JSON summary on stdin."""
    d = json.load(sys.stdin)
    s, p = d.get("summary", {}), d.get("latencyPercentiles", {})
    codes = {int(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
    total = sum(codes.values()) + sum((d.get("errorDistribution") or {}).values())
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    lat = lambda k: float(p.get(k) or float("nan"))
    ms = lambda v: f"{v * 1000:9.2f}"
    other = {k: v for k, v in codes.items() if not 200 <= k < 300}
    other.update(d.get("errorDistribution") or {})
    print(f"{name:<28} {'oha':<7} {total:>8} {ok:>8} {float(s.get('requestsPerSec') or 0):>10.1f} "
          f"{ms(lat('p50'))} {ms(lat('p90'))} {ms(lat('p99'))} {ms(float(s.get('slowest') or float('nan')))}"
          f"{('  other: ' + json.dumps(other)) if other else ''}", flush=True)

cmds = {"token": cmd_token, "check": cmd_check, "login": cmd_login, "refresh": cmd_refresh,
        "get": cmd_get, "oha": cmd_oha, "header": header}
try:
    cmds[sys.argv[1]](*sys.argv[2:])
except (OSError, http.client.HTTPException) as e:
    sys.exit(f"load.sh: {sys.argv[1]}: {e}")
PY

# ---- the GET driver ---------------------------------------------------------------------------
find_oha() {
    if command -v oha >/dev/null 2>&1; then
        command -v oha
    elif [[ -x $OHA_ROOT/bin/oha ]]; then
        echo "$OHA_ROOT/bin/oha"
    else
        return 1
    fi
}

tool=${KISUM_LOAD_TOOL:-oha}
oha=""
if [[ $tool == oha ]]; then
    if ! oha=$(find_oha); then
        if command -v cargo >/dev/null 2>&1; then
            echo "load.sh: installing oha into $OHA_ROOT (cargo install oha --locked; a few minutes)" >&2
            if cargo install oha --locked --root "$OHA_ROOT" >"$work/oha-install.log" 2>&1; then
                oha=$OHA_ROOT/bin/oha
            else
                tail -n 5 "$work/oha-install.log" >&2
            fi
        fi
        if [[ -z $oha ]]; then
            echo "load.sh: oha unavailable; using the Python generator for GET endpoints" >&2
            tool=python
        fi
    fi
fi
if [[ $tool == oha ]]; then
    if "$oha" --help 2>/dev/null | grep -q -- '--output-format'; then
        oha_json=(--output-format json)
    else
        oha_json=(--json)
    fi
fi

# get NAME URL TOKEN: one GET run (TOKEN `-` for none).
get() {
    local name=$1 url=$2 token=$3
    python3 "$helper" check "$name" "$url" "$token" "$ORG"
    if [[ $tool == oha ]]; then
        local headers=()
        if [[ $token != - ]]; then
            headers=(-H "Authorization: Bearer $token" -H "X-Org: $ORG")
        fi
        "$oha" --no-tui "${oha_json[@]}" -z "${DURATION_SECS}s" -w -c "$CONCURRENCY" \
            "${headers[@]}" "$url" | python3 "$helper" oha "$name"
    else
        python3 "$helper" get "$name" "$url" "$token" "$ORG" "$DURATION_SECS" "$CONCURRENCY"
    fi
}

# ---- the run ----------------------------------------------------------------------------------
echo "Kisum load: auth=$AUTH_URL module=$MODULE_URL as $EMAIL in $ORG;" \
    "GET runs ${DURATION_SECS}s x $CONCURRENCY connections ($tool)"
read -r access _ < <(python3 "$helper" token "$AUTH_URL" "$EMAIL" "$PASSWORD")
[[ -n ${access:-} ]] || exit 1
python3 "$helper" header
python3 "$helper" login "$AUTH_URL" "$EMAIL" "$PASSWORD" "$LOGIN_SAMPLES"
python3 "$helper" refresh "$AUTH_URL" "$EMAIL" "$PASSWORD" "$REFRESH_SESSIONS" "$REFRESH_COUNT"
get "GET /v1/auth/me/access" "$AUTH_URL/v1/auth/me/access" "$access"
get "GET /v1/finance/invoices" "$MODULE_URL/v1/finance/invoices" "$access"
get "GET /health (module, bare)" "$MODULE_URL/health" -

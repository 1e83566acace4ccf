"""Helpers of scripts/bench-http.sh (Python standard library only).

  bench_http.py register AUTH PASSWORD EMAILS          register each email of the file
  bench_http.py add AUTH ORG OWNER_TOKEN EMAILS        add each as a finance-viewer of ORG
  bench_http.py mint AUTH PASSWORD EMAILS COUNT ACCESS_OUT REFRESH_OUT
                                                       COUNT sign-ins, cycling over the emails
  bench_http.py invoices MODULE ORG TOKEN COUNT        create COUNT invoices
  bench_http.py combine wrk|argon2 WINDOWS            one result line from a scenario's windows
  bench_http.py summary RESULTS RUNS                   the tables of a bench (see below)

Requests run on 4 threads; any unexpected status stops the bench with the answer's body.
"""

import http.client
import json
import re
import statistics
import sys
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PARALLEL = 4
_local = threading.local()


def _conn(base):
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    if base not in conns:
        u = urllib.parse.urlsplit(base)
        conns[base] = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    return conns[base]


def call(base, method, path, want, body=None, headers=None):
    """The answer's JSON body; exits when the status is not `want`."""
    h = {"Content-Type": "application/json", **(headers or {})}
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(2):
        conn = _conn(base)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            break
        except (OSError, http.client.HTTPException):
            conn.close()
            if attempt:
                raise
    if r.status != want:
        sys.exit(f"bench-http: {method} {base}{path} answered {r.status} (want {want}): "
                 f"{raw[:300].decode(errors='replace')}")
    return json.loads(raw) if raw else None


def lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def each(items, work):
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(work, items))


def cmd_register(auth, password, emails):
    each(lines(emails), lambda e: call(auth, "POST", "/v1/auth/register", 201,
                                       {"email": e, "password": password, "name": e.split("@")[0]}))


def cmd_add(auth, org, owner, emails):
    each(lines(emails), lambda e: call(
        auth, "POST", f"/v1/companies/{org}/members", 201,
        {"email": e, "roles": ["finance-viewer"], "modules": ["finance"]},
        {"Authorization": f"Bearer {owner}"}))


def cmd_mint(auth, password, emails, count, access_out, refresh_out):
    emails = lines(emails)
    picks = [emails[i % len(emails)] for i in range(int(count))]
    pairs = each(picks, lambda e: call(auth, "POST", "/v1/auth/login", 200,
                                       {"email": e, "password": password}))
    with open(access_out, "w") as a, open(refresh_out, "w") as r:
        for p in pairs:
            a.write(p["access_token"] + "\n")
            r.write(p["refresh_token"] + "\n")


def cmd_invoices(module, org, token, count):
    each(range(int(count)), lambda i: call(
        module, "POST", "/v1/finance/invoices", 201,
        {"customer": f"Customer {i + 1}", "amount_cents": 1000 + i},
        {"Authorization": f"Bearer {token}", "X-Org": org}))


# ---- combine ----------------------------------------------------------------------------------
# The windows of an interleaved scenario (decision 0047) as one result: the rate is all requests
# over all measured seconds; p50 is the median of the windows' p50s and p99 the worst window's
# p99 (wrk reports percentiles per run, and percentiles do not add up); non-2xx and errors add.


def cmd_combine(kind, path):
    rows = lines(path)
    if kind == "wrk":
        got = [dict(kv.split("=", 1) for kv in row.split()) for row in rows]
        requests = sum(int(g["requests"]) for g in got)
        seconds = sum(float(g["seconds"]) for g in got)
        print(f"requests={requests} seconds={seconds:.3f} rps={requests / seconds:.1f} "
              f"p50_ms={statistics.median(float(g['p50_ms']) for g in got):.3f} "
              f"p99_ms={max(float(g['p99_ms']) for g in got):.3f} "
              f"non2xx={sum(int(g['non2xx']) for g in got)} "
              f"errors={sum(int(g['errors']) for g in got)}")
    elif kind == "argon2":
        pattern = re.compile(r"^argon2id verify: [0-9.]+/s \(([0-9]+) in ([0-9.]+) s on ([0-9]+) threads\)$")
        count = seconds = 0.0
        threads = None
        for row in rows:
            m = pattern.match(row)
            if not m:
                sys.exit(f"bench_http.py: not a bench-argon2 line: {row}")
            count += int(m.group(1))
            seconds += float(m.group(2))
            threads = m.group(3)
        print(f"rate={count / seconds:.1f} count={int(count)} seconds={seconds:.2f} threads={threads}")
    else:
        sys.exit("bench_http.py: combine wrk|argon2 WINDOWS")


# ---- summary ----------------------------------------------------------------------------------
# RESULTS is tab-separated: `run  scenario  key=value …` (the BENCH line of the wrk script), and
# `run  argon2  rate=…`.

LOGIN = "POST /v1/auth/login"
GUARDED = "GET /v1/finance/invoices (guarded)"
UNGUARDED = "the same handler, unguarded"


def parse(path):
    runs = {}
    for line in lines(path):
        run, name, fields = line.split("\t", 2)
        values = dict(kv.split("=", 1) for kv in fields.split())
        runs.setdefault(int(run), {})[name] = {k: float(v) for k, v in values.items()}
    return runs


def table(rows, title):
    print(title)
    print(f"  {'scenario':<40} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'non-2xx':>8} {'errors':>7}")
    for name, r in rows.items():
        print(f"  {name:<40} {r['rps']:>10,.1f} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} "
              f"{int(r['non2xx']):>8} {int(r['errors']):>7}")


def ratios(run):
    out = {}
    if LOGIN in run and "argon2" in run:
        out["sign-in / raw argon2id verification"] = 100 * run[LOGIN]["rps"] / run["argon2"]["rate"]
    if GUARDED in run and UNGUARDED in run:
        out["guarded / unguarded"] = 100 * run[GUARDED]["rps"] / run[UNGUARDED]["rps"]
    return out


def cmd_summary(path, total):
    runs = parse(path)
    for n in sorted(runs):
        run = runs[n]
        scenarios = {k: v for k, v in run.items() if k != "argon2"}
        table(scenarios, f"run {n} of {total}")
        if "argon2" in run:
            a = run["argon2"]
            print(f"  raw argon2id verification (m=19 MiB, t=2, p=1) on {int(a['threads'])} "
                  f"threads: {a['rate']:,.1f}/s")
        for k, v in ratios(run).items():
            print(f"  {k}: {v:.0f} %")
        print()
    if len(runs) > 1:
        names = [k for k in runs[min(runs)] if k != "argon2"]
        med = {}
        for name in names:
            got = [r[name] for r in runs.values() if name in r]
            med[name] = {k: statistics.median(g[k] for g in got) for k in ("rps", "p50_ms", "p99_ms")}
            med[name]["non2xx"] = sum(g["non2xx"] for g in got)
            med[name]["errors"] = sum(g["errors"] for g in got)
        table(med, f"medians of {len(runs)} runs (non-2xx and errors: totals)")
        rates = [r["argon2"]["rate"] for r in runs.values() if "argon2" in r]
        if rates:
            print(f"  raw argon2id verification: {statistics.median(rates):,.1f}/s")
        per_run = [ratios(r) for r in runs.values()]
        for k in per_run[0]:
            print(f"  {k} (median of the runs' own ratios): "
                  f"{statistics.median(p[k] for p in per_run if k in p):.0f} %")
        print()


COMMANDS = {"register": cmd_register, "add": cmd_add, "mint": cmd_mint,
            "invoices": cmd_invoices, "combine": cmd_combine, "summary": cmd_summary}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except (OSError, http.client.HTTPException) as e:
        sys.exit(f"bench-http: {sys.argv[1]}: {e}")

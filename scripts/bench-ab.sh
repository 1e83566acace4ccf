#!/usr/bin/env bash
# Two builds of one criterion bench, alternated: the only fair comparison on a guest whose speed
# drifts by a third within an hour (docs/benchmarks.md). Each side runs REPS times, one after
# the other (a b a b …), each a short criterion measurement; prints each side's estimates sorted
# and their median, in µs.
#
#   scripts/bench-ab.sh OLD_BINARY NEW_BINARY FILTER [REPS]
#
# The binaries are criterion bench executables, copied aside after each build, e.g.
#   cargo bench -p kisum-benches --bench access --no-run   # then, for each build:
#   cp "$(ls -t target/release/deps/access-* | grep -v '\.d$' | head -n1)" /tmp/access-old
#   scripts/bench-ab.sh /tmp/access-old /tmp/access-new aggregation/cold_memory 8
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n 2,12p "$0"; exit 2; }
old=$1 new=$2 filter=$3 reps=${4:-8}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench-ab: REPS must be a positive whole number"; exit 2; }
for b in "$old" "$new"; do [[ -x $b ]] || { echo "bench-ab: $b is not an executable"; exit 2; }; done
# Criterion writes its reports under ./target: keep them out of the working tree.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# estimate BINARY: criterion's middle estimate of FILTER's first benchmark, in µs.
estimate() {
    "$1" --bench "$filter" --measurement-time 3 --warm-up-time 1 2>&1 |
        awk '/time:/ && !done { v = $(NF-3); u = $(NF-2); if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; print v; done = 1 }'
}

results=()
for _ in $(seq 1 "$reps"); do
    for side in old new; do
        [[ $side == old ]] && bin=$old || bin=$new
        e=$(estimate "$bin")
        [[ -n $e ]] || { echo "bench-ab: $bin measured no benchmark named by '$filter'"; exit 1; }
        results+=("$side $e")
    done
done
for side in old new; do
    printf '%s\n' "${results[@]}" | awk -v s="$side" '$1 == s { print $2 }' | sort -g |
        awk -v s="$side" '{ v[NR] = $1; line = line sprintf(" %.3f", $1) }
            END {
                m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                printf "%s: median %.3f µs of%s\n", s, m, line
            }'
done

#!/usr/bin/env bash
# Instructions per pass-through request, counted by valgrind's callgrind (hand-run; NOT a test).
#
# Throughput on a shared 2-core machine is noisy; instruction counts are not: the same binary and
# load give the same count whatever else runs. This starts the fixed-response nginx upstream and
# lienthong (bench/lienthong-bench.toml, one worker thread) under callgrind, warms up for 3 s, zeroes
# the counters, loads it with wrk for 10 s, dumps, and prints instructions and allocator calls per
# request. Valgrind slows lienthong ~50x, so only the ratio between two binaries means anything.
#
# Usage: bench/callgrind.sh BINARY [NAME]     (NAME: prefix of the output files in $TMPDIR, default run)
# Needs valgrind, nginx and wrk (bench/setup.sh installs the last two).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN=$(realpath "${1:?usage: bench/callgrind.sh BINARY [NAME]}")
NAME=${2:-run}
OUT="${TMPDIR:-/tmp}/lienthong-callgrind-$NAME"
KEY="Authorization: Bearer bench-key-0123456789"
URL="http://127.0.0.1:18083/v1/proxy/fixed"
for tool in valgrind callgrind_control callgrind_annotate nginx wrk curl; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool not found" >&2; exit 1; }
done

# shellcheck source=bench-env.sh
. "$ROOT/bench/bench-env.sh"
TMP=$(mktemp -d)
chmod 755 "$TMP"
mkdir -p "$TMP/tmp"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

nginx -p "$TMP/" -e "$TMP/error.log" -c "$ROOT/bench/nginx-upstream.conf" &
PIDS+=($!)
valgrind --tool=callgrind --callgrind-out-file="$OUT.cg" --dump-instr=no \
    "$BIN" serve --config "$ROOT/bench/lienthong-bench.toml" --worker-threads 1 >"$TMP/lienthong.log" 2>&1 &
VG=$!
PIDS=("$VG" "${PIDS[@]}")
for _ in $(seq 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$KEY" "$URL" || true)" = 200 ] && break
    sleep 0.5
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$KEY" "$URL" || true)" = 200 ] || { echo "lienthong did not answer 200" >&2; exit 1; }

wrk -t1 -c8 -d3s -H "$KEY" "$URL" >/dev/null
callgrind_control -z "$VG" >/dev/null
N=$(wrk -t1 -c8 -d10s -H "$KEY" "$URL" | awk '/requests in/ {print $1}')
callgrind_control -d "$VG" >/dev/null
sleep 1
DUMP="$OUT.cg.1"
IR=$(callgrind_annotate "$DUMP" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
# Allocator entry points (glibc malloc, or mimalloc's when the binary links it).
ALLOCS=$(callgrind_annotate --tree=caller --threshold=100 "$DUMP" 2>/dev/null |
    awk '/^ *[0-9,]+ \([ 0-9.]+%\)  \*  .*(malloc\.c:malloc|prim\.h:mi_malloc_aligned) \[/ { print prev } { prev = calls } { if (match($0, /\(([0-9,]+)x\)/, m)) { gsub(",", "", m[1]); calls += m[1] } else if ($0 ~ /^$/) calls = 0 }' |
    tail -n 1)
echo "requests: $N"
echo "instructions: $IR  per request: $((IR / N))"
[ -n "$ALLOCS" ] && echo "allocations per request: $(awk -v a="$ALLOCS" -v n="$N" 'BEGIN { printf "%.1f", a / n }')"
echo "callgrind dump: $DUMP (callgrind_annotate --inclusive=yes $DUMP)"

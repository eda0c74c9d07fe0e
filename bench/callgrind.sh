#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind (hand-run; NOT a test).
#
# Throughput on a shared 2-core machine is noisy; instruction counts are not: the same binary and
# load give the same count whatever else runs. This starts lienthong (bench/lienthong-bench.toml,
# one worker thread) under callgrind with the target's upstream, warms up for 3 s, zeroes the
# counters, loads it with wrk for 10 s, dumps, and prints instructions, allocator calls and
# thread switches per request. Valgrind slows lienthong ~50x, so only the ratio between two
# binaries means anything; the thread switches (every thread of lienthong, voluntary and not, from
# /proc over the measured run) are distorted the same way: valgrind runs one thread at a time.
#
# Targets (the same as bench/passthrough.sh's):
#   passthrough  GET /v1/proxy/fixed -> the fixed-response nginx upstream (default)
#   verify       POST /v1/citizens/verify -> the population database mock (`lienthong mocks
#                --config bench/mocks-registry.toml --seed 42`, run natively, not under valgrind):
#                the translated path with a durable audit record per call, in a file store
#                (sqlite://TMP/bench.db, WAL, synchronous=FULL); bench/verify.lua rotates over
#                well-known citizens. After the run the audit chain is verified
#                (`lienthong audit verify`) and must hold one record per answer.
#
# Usage: bench/callgrind.sh [-T TARGET] [-c CONNS] BINARY [NAME]
#   -T TARGET  passthrough (default) or verify
#   -c CONNS   wrk connections (default 8)
#   NAME       prefix of the output files in $TMPDIR (default run)
# Needs valgrind, wrk and curl, and nginx for passthrough (bench/setup.sh installs wrk and nginx).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=passthrough
CONNS=8
while getopts "T:c:" opt; do
    case "$opt" in
        T) TARGET=$OPTARG ;;
        c) CONNS=$OPTARG ;;
        *) echo "usage: bench/callgrind.sh [-T passthrough|verify] [-c CONNS] BINARY [NAME]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
BIN=$(realpath "${1:?usage: bench/callgrind.sh [-T passthrough|verify] [-c CONNS] BINARY [NAME]}")
NAME=${2:-run}
OUT="${TMPDIR:-/tmp}/lienthong-callgrind-$NAME"
KEY="Authorization: Bearer bench-key-0123456789"
# The headers and body of a verify, as bench/passthrough.sh sends them (the body is the first
# citizen of bench/verify.lua).
VERIFY_HEADERS=(-H "Content-Type: application/json" -H "X-User-Id: 046185000123" -H "X-Dossier-Id: HS-BENCH-0001")
VERIFY_BODY=$(grep -o '{"citizen_id"[^}]*}' "$ROOT/bench/verify.lua" | head -n 1)
case "$TARGET" in
    passthrough)
        URL="http://127.0.0.1:18083/v1/proxy/fixed"
        WRK_ARGS=(-H "$KEY")
        PROBE=(-H "$KEY")
        NEEDS=(nginx) ;;
    verify)
        URL="http://127.0.0.1:18083/v1/citizens/verify"
        WRK_ARGS=(-H "$KEY" "${VERIFY_HEADERS[@]}" -s "$ROOT/bench/verify.lua")
        PROBE=(-H "$KEY" "${VERIFY_HEADERS[@]}" --data-binary "$VERIFY_BODY")
        NEEDS=() ;;
    *) echo "callgrind.sh: unknown target $TARGET (passthrough or verify)" >&2; exit 2 ;;
esac
for tool in valgrind callgrind_control callgrind_annotate wrk curl "${NEEDS[@]}"; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool not found" >&2; exit 1; }
done

# Another run (of this script or bench/passthrough.sh) on the same ports would answer in place of
# this one, and this one's load would land in its counts: refuse to start.
case "$TARGET" in passthrough) PORTS=(18081 18083) ;; verify) PORTS=(18083 18101 18102) ;; esac
for port in "${PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "callgrind.sh: 127.0.0.1:$port is in use (another benchmark running?)" >&2
        exit 1
    fi
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

CONFIG="$TMP/lienthong.toml"
cp "$ROOT/bench/lienthong-bench.toml" "$CONFIG"
if [ "$TARGET" = verify ]; then
    # A file store, as in production: each verify's audit record is durable before the answer.
    sed -i "s|^url = \"sqlite::memory:\"|url = \"sqlite://$TMP/bench.db\"|" "$CONFIG"
    grep -q "^url = \"sqlite://$TMP/bench.db\"" "$CONFIG" || { echo "callgrind.sh: no store url to replace" >&2; exit 1; }
    "$BIN" mocks --config "$ROOT/bench/mocks-registry.toml" --seed 42 >"$TMP/mocks.log" 2>&1 &
    PIDS+=($!)
else
    nginx -p "$TMP/" -e "$TMP/error.log" -c "$ROOT/bench/nginx-upstream.conf" &
    PIDS+=($!)
fi
valgrind --tool=callgrind --callgrind-out-file="$OUT.cg" --dump-instr=no \
    "$BIN" serve --config "$CONFIG" --worker-threads 1 >"$TMP/lienthong.log" 2>&1 &
VG=$!
PIDS=("$VG" "${PIDS[@]}")
probe() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 "${PROBE[@]}" "$URL" || true; }
for _ in $(seq 120); do
    [ "$(probe)" = 200 ] && break
    sleep 0.5
done
[ "$(probe)" = 200 ] || { echo "lienthong did not answer 200" >&2; tail -n 20 "$TMP/lienthong.log" >&2; exit 1; }

# Thread switches of every thread of lienthong so far (threads that ended are not counted).
switches() {
    cat /proc/"$VG"/task/*/status 2>/dev/null |
        awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}
load() { # seconds -> requests answered, all of them 2xx
    local report
    report=$(wrk -t1 -c"$CONNS" -d"$1" "${WRK_ARGS[@]}" "$URL")
    if grep -q "Non-2xx" <<<"$report"; then echo "callgrind.sh: some answers were not 2xx" >&2; return 1; fi
    awk '/requests in/ {print $1}' <<<"$report"
}
WARM=$(load 3s)
callgrind_control -z "$VG" >/dev/null
S0=$(switches)
N=$(load 10s)
S1=$(switches)
callgrind_control -d "$VG" >/dev/null
sleep 1
DUMP="$OUT.cg.1"
IR=$(callgrind_annotate "$DUMP" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
# Allocator entry points (glibc malloc, or mimalloc's when the binary links it), summed: the same
# entry point can be listed more than once.
ALLOCS=$(callgrind_annotate --tree=caller --threshold=100 "$DUMP" 2>/dev/null |
    awk '/^ *[0-9,]+ \([ 0-9.]+%\)  \*  .*(malloc\.c:malloc|prim\.h:mi_malloc_aligned) \[/ { print prev } { prev = calls } { if (match($0, /\(([0-9,]+)x\)/, m)) { gsub(",", "", m[1]); calls += m[1] } else if ($0 ~ /^$/) calls = 0 }' |
    awk '{ n += $1 } END { if (NR) print n }')
echo "target: $TARGET, $CONNS connections"
echo "requests: $N"
echo "instructions: $IR  per request: $((IR / N))"
[ -n "$ALLOCS" ] && echo "allocations per request: $(awk -v a="$ALLOCS" -v n="$N" 'BEGIN { printf "%.1f", a / n }')"
echo "thread switches per request: $(awk -v s="$((S1 - S0))" -v n="$N" 'BEGIN { printf "%.2f", s / n }') (under valgrind)"
if [ "$TARGET" = verify ]; then
    # Every answer (the probes, the warm-up and the measured run) left one record in one chain.
    CHAIN=$("$BIN" audit verify --config "$CONFIG" 2>&1 | tail -n 1)
    echo "$CHAIN"
    RECORDS=$(sed -n 's/^audit chain intact: \([0-9]*\) records.*/\1/p' <<<"$CHAIN")
    [ -n "$RECORDS" ] && [ "$RECORDS" -ge $((WARM + N)) ] ||
        { echo "callgrind.sh: the audit chain does not hold a record for every answer ($WARM + $N)" >&2; exit 1; }
fi
echo "callgrind dump: $DUMP (callgrind_annotate --inclusive=yes $DUMP)"

#!/usr/bin/env bash
# Diagnostic (hand-run; NOT a test): user-space instructions per population lookup of our mock,
# counted by valgrind's callgrind, which does not depend on how busy the machine is (unlike req/s
# or CPU time). Starts our mock under callgrind (same config as run.sh), warms it up, zeroes the
# counters, drives a fixed number of lookups with wrk (same Lua script and request as run.sh),
# dumps the counters and divides by the number of requests the mock journaled (sequence numbers).
#
# Usage: bench/mocks/instructions.sh [-B BINARY] [-n REQUESTS] [-c CONNS] [-o DIR]
#   -B BINARY    lienthong binary (default target/release/lienthong; not rebuilt here)
#   -n REQUESTS  measured requests (default 20000; more than 100000 also exercises the full
#                journal's eviction)
#   -c CONNS     wrk connections (default 8)
#   -o DIR       keep the callgrind dumps in DIR (default: a temp dir, removed on exit)
# Needs valgrind and wrk. Prints "instructions/request: N".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="$ROOT/target/release/lienthong"
REQUESTS=20000
CONNS=8
OUT=""
PORT=18101
die() { echo "instructions.sh: FAIL: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case "$1" in
        -B) BIN="$2"; shift 2 ;;
        -n) REQUESTS="$2"; shift 2 ;;
        -c) CONNS="$2"; shift 2 ;;
        -o) OUT="$2"; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
command -v valgrind >/dev/null 2>&1 || die "valgrind not found"
command -v callgrind_control >/dev/null 2>&1 || die "callgrind_control not found"
command -v wrk >/dev/null 2>&1 || die "wrk not found (bench/mocks/setup.sh)"
[ -x "$BIN" ] || die "$BIN not found"
KEEP=1
if [ -z "$OUT" ]; then OUT="$(mktemp -d)"; KEEP=0; fi
mkdir -p "$OUT"

MOCK=""
cleanup() {
    if [ -n "$MOCK" ]; then kill -TERM "$MOCK" 2>/dev/null || true; wait "$MOCK" 2>/dev/null || true; fi
    if [ "$KEEP" = 0 ]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "port $PORT is in use"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$BIN" mocks --config "$HERE/mocks-bench.toml" --seed 42 >"$OUT/ours.log" 2>&1 &
MOCK=$!
for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.5; done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "the mock did not start (see $OUT/ours.log)"

# A wrk script that stops its thread after its share of the requests and leaves a mark (wrk's main
# thread sleeps for the whole -d: the mark tells this script when to interrupt it). The mock itself
# is not polled, so that nothing but the lookups is counted.
cat >"$OUT/counted.lua" <<LUA
dofile("$HERE/lookup.lua")
local left = 0
local mark = nil
function init(args) left = tonumber(args[1]); mark = args[2] end
function response(status, headers, body)
  left = left - 1
  if left == 0 then
    local f = io.open(mark, "w")
    f:close()
    wrk.thread:stop()
  end
end
LUA
load() { # requests outfile
    local ts sig wrk_pid mark="$OUT/stopped.$RANDOM"
    ts="$(date +%s%3N)"
    sig="$(printf '%s' "http://127.0.0.1:$PORT/dancuquocgialienthong${ts}demo-c06-secret" | sha256sum | cut -d' ' -f1)"
    LOOKUP_BODY_FILE="$HERE/lookup-request.xml" LOOKUP_TIMESTAMP="$ts" LOOKUP_APIKEY=demo-c06-apikey \
        LOOKUP_AUTH="Basic $(printf '%s' "lienthong:$sig" | base64 -w0)" \
        wrk -t1 -c"$CONNS" -d1h --timeout 60s -s "$OUT/counted.lua" \
        "http://127.0.0.1:$PORT/dancuquocgia" -- "$1" "$mark" >"$2" &
    wrk_pid=$!
    while [ ! -e "$mark" ]; do sleep 1; done
    sleep 1 # the requests still in flight
    kill -INT "$wrk_pid"
    wait "$wrk_pid" || true
}
admin() { curl -sS -X "$1" "http://127.0.0.1:$PORT/__admin/$2"; }
# The sequence number of the newest journal entry (it keeps counting when the journal is full).
newest_seq() { admin GET 'journal?limit=1' | { grep -o '"seq":[0-9]*' || true; } | tr -dc 0-9; }

load 2000 "$OUT/warmup.txt"
before="$(newest_seq)"; before="${before:-0}"
admin DELETE journal
callgrind_control -z "$MOCK" >/dev/null
load "$REQUESTS" "$OUT/wrk.txt"
callgrind_control -d "$MOCK" >/dev/null
after="$(newest_seq)"
n=$((after - before))
ok="$(admin GET 'journal/count?status=200' | tr -dc 0-9)"
all="$(admin GET 'journal/count' | tr -dc 0-9)"
sent="$(awk '/requests in/ { print $1 }' "$OUT/wrk.txt")"
if grep -E "Non-2xx|Socket errors" "$OUT/wrk.txt"; then die "errors during the run (see $OUT/wrk.txt)"; fi
[ "$ok" = "$all" ] || die "$((all - ok)) journaled requests were not 200"
dump="$(ls -t "$OUT"/callgrind.out.* | head -1)"
total="$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")"
echo "requests: journaled $n (wrk counted $sent); instructions: $total"
echo "instructions/request: $((total / n))"

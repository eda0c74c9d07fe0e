#!/usr/bin/env bash
# Diagnostic (hand-run; NOT a test, not part of the comparison): where our population mock spends
# its CPU under the load of bench/mocks/run.sh. Starts our mock alone (same config), warms it up,
# then records it with `perf record -g` during a wrk run with the same Lua script and settings, and
# prints the inclusive share of the main stages of a request. Needs perf (Debian: linux-perf) and a
# release build with debug info (the workspace's release profile has it).
#
# Usage: bench/mocks/profile.sh [-B BINARY] [-c CONNS] [-d SECONDS] [-o DIR]
#   -B BINARY   lienthong binary (default target/release/lienthong; not rebuilt here)
#   -c CONNS    wrk connections (default 32)      -d SECONDS  recorded seconds (default 10)
#   -o DIR      keep perf.data and the reports in DIR (default: a temp dir, removed on exit)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="$ROOT/target/release/lienthong"
CONNS=32
SECS=10
OUT=""
PORT=18101
die() { echo "profile.sh: FAIL: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case "$1" in
        -B) BIN="$2"; shift 2 ;;
        -c) CONNS="$2"; shift 2 ;;
        -d) SECS="$2"; shift 2 ;;
        -o) OUT="$2"; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
command -v perf >/dev/null 2>&1 || die "perf not found (apt-get install linux-perf)"
command -v wrk >/dev/null 2>&1 || die "wrk not found (bench/mocks/setup.sh)"
[ -x "$BIN" ] || die "$BIN not found"
KEEP=1
if [ -z "$OUT" ]; then OUT="$(mktemp -d)"; KEEP=0; fi
mkdir -p "$OUT"

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$KEEP" = 0 ]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "port $PORT is in use"
"$BIN" mocks --config "$HERE/mocks-bench.toml" --seed 42 >"$OUT/ours.log" 2>&1 &
MOCK=$!; PIDS+=("$MOCK")
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done

load() { # seconds outfile
    local ts sig
    ts="$(date +%s%3N)"
    sig="$(printf '%s' "http://127.0.0.1:$PORT/dancuquocgialienthong${ts}demo-c06-secret" | sha256sum | cut -d' ' -f1)"
    LOOKUP_BODY_FILE="$HERE/lookup-request.xml" LOOKUP_TIMESTAMP="$ts" LOOKUP_APIKEY=demo-c06-apikey \
        LOOKUP_AUTH="Basic $(printf '%s' "lienthong:$sig" | base64 -w0)" \
        wrk -t1 -c"$CONNS" -d"${1}s" --latency -s "$HERE/lookup.lua" "http://127.0.0.1:$PORT/dancuquocgia" >"$2"
}
load 5 "$OUT/warmup.txt"
load $((SECS + 4)) "$OUT/wrk.txt" &
WRK=$!; PIDS+=("$WRK")
sleep 2
perf record -q -F 499 -g --call-graph dwarf,16384 -p "$MOCK" -o "$OUT/perf.data" -- sleep "$SECS" 2>/dev/null
wait "$WRK"
grep -E "Requests/sec|Non-2xx|Socket errors" "$OUT/wrk.txt" || true

perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed 's/  */ /g; s/ - - *$//; s/ *$//' >"$OUT/inclusive.txt"
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed 's/  */ /g; s/ *$//' >"$OUT/dso.txt"
share() { # label regex: the largest inclusive % of a symbol matching regex
    local v
    v="$( (grep -E "$2" "$OUT/inclusive.txt" || true) | awk '{ sub(/%/, "", $1); if ($1 > m) m = $1 } END { printf "%.1f", m + 0 }')"
    printf '  %-58s %5s %%\n' "$1" "$v"
}
echo "Inclusive share of our mock's on-CPU samples ($(grep -c . "$OUT/inclusive.txt") symbols; $OUT):"
share "population::handle (the SOAP handler)" ' lienthong_mocks::population::handle$'
share "  request::parse (XML parse + field checks)" ' lienthong_mocks::population::request::parse$'
share "  reply::lookup (render the reply)" ' lienthong_mocks::population::reply::lookup$'
share "  auth::check (C06 headers, SHA-256)" ' lienthong_mocks::population::auth::check$'
share "classify (journal: operation name, 2nd XML parse)" ' lienthong_mocks::population::request::classify$'
share "soap::xml::parse (both parses together)" ' lienthong_mocks::soap::xml::parse$'
share "MockControl::record (journal push, drain)" ' lienthong_mocks::control::MockControl::record$'
share "drop JournalEntry (drained entries)" 'drop_in_place<lienthong_mocks::control::JournalEntry>$'
share "kernel syscalls (TCP read/write, epoll)" ' do_syscall_64$'
echo "Self time by library:"
head -5 "$OUT/dso.txt" | sed 's/^/  /'
echo "Top self symbols:"
perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed 's/  */ /g; s/ - - *$//' | cut -c1-110 | head -12 | sed 's/^/  /'

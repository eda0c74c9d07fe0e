#!/usr/bin/env bash
# Isolation benchmark (hand-run; NOT a test): does one stalled upstream slow the other services?
#
#   1. wrk -> lienthong -> the catalogue mock (`lienthong mocks`, :18100): the healthy service's
#      p50/p99 alone;
#   2. the same while STALLED callers (default 64) hold calls on another service whose upstream
#      answers after 3 s (the catalogue mock's /slow?ms=3000): its p50/p99 beside a stalled upstream.
# Rounds alternate (alone, beside, alone, beside, …) so that drift hits both; the summary gives
# the medians and beside/alone. The target (issue "Trust", §6): p99 beside ≤ 1.10 × p99 alone.
#
# Needs wrk and curl. Usage: bench/faults.sh [-B BINARY] [-r ROUNDS] [-d SECONDS] [-c CONNS] [-s STALLED]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lienthong"
ROUNDS=3
DURATION=10
CONNS=32
STALLED=64
while getopts "B:r:d:c:s:" opt; do
    case "$opt" in
        B) BIN=$(realpath "$OPTARG") ;;
        r) ROUNDS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        c) CONNS=$OPTARG ;;
        s) STALLED=$OPTARG ;;
        *) echo "usage: $0 [-B BINARY] [-r ROUNDS] [-d SECONDS] [-c CONNS] [-s STALLED]" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "wrk is missing: bench/setup.sh installs it" >&2; exit 2; }
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --bin lienthong)

OUT=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

KEY=bench-key-0123456789
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
cat > "$OUT/gateway.toml" <<EOF
[[listeners]]
addr = "127.0.0.1:18090"
plain_http = true

[store]
url = "sqlite::memory:"

[telemetry]
log_format = "json"
log_level = "warn"
access_log = false

[services.healthy]
kind = "passthrough"
base_url = "http://127.0.0.1:18100"
routes = [{ operation = "list", methods = ["GET"], path = "/procedures" }]

[services.stalled]
kind = "passthrough"
base_url = "http://127.0.0.1:18100"
timeout_ms = 30000
routes = [{ operation = "slow", methods = ["GET"], path = "/slow" }]

[[clients]]
id = "bench"
api_keys_sha256 = ["$HASH"]
allow = [{ service = "healthy", operations = ["*"] }, { service = "stalled", operations = ["*"] }]
EOF

"$BIN" mocks > "$OUT/mocks.log" 2>&1 & PIDS+=($!)
"$BIN" serve --config "$OUT/gateway.toml" > "$OUT/gateway.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do
    curl -fs -o /dev/null http://127.0.0.1:18090/readyz && curl -fs -o /dev/null http://127.0.0.1:18100/procedures && break
    sleep 0.1
done

HEALTHY=http://127.0.0.1:18090/v1/proxy/healthy/procedures
measure() { # label -> "p50 p99" in ms
    wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $KEY" "$HEALTHY" > "$OUT/wrk-$1.txt"
    awk '/ 50%/ {p50=$2} / 99%/ {p99=$2} END {print p50, p99}' "$OUT/wrk-$1.txt" |
        sed -E 's/([0-9.]+)us/\1e-3/g; s/([0-9.]+)ms/\1/g; s/([0-9.]+)s( |$)/\1e3\2/g'
}
stall() { # holds $STALLED calls on the stalled service until killed
    # One wrk, not a shell loop of curls: spawning a process per held call (about 20 a second)
    # costs the machine more than the gateway's work, and would be measured as interference.
    wrk -t1 -c"$STALLED" -d$((DURATION + 30))s --timeout 10s -H "Authorization: Bearer $KEY" \
        "http://127.0.0.1:18090/v1/proxy/stalled/slow?ms=3000" > /dev/null & STALL_PIDS+=($!)
}

wrk -t1 -c"$CONNS" -d3s -H "Authorization: Bearer $KEY" "$HEALTHY" > /dev/null   # warm-up
: > "$OUT/results"
for r in $(seq "$ROUNDS"); do
    read -r p50 p99 < <(measure "alone-$r")
    echo "alone  $p50 $p99" >> "$OUT/results"
    echo "== round $r alone:  p50 $p50 ms, p99 $p99 ms"
    STALL_PIDS=()
    stall
    sleep 1
    read -r p50 p99 < <(measure "beside-$r")
    for p in "${STALL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    echo "beside $p50 $p99" >> "$OUT/results"
    echo "== round $r beside: p50 $p50 ms, p99 $p99 ms ($STALLED calls held on the stalled upstream)"
    sleep 3
done

echo
echo "isolation benchmark  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs  wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS rounds, $STALLED stalled calls"
awk '
    { p50[$1] = p50[$1] " " $2; p99[$1] = p99[$1] " " $3 }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        a50 = median(p50["alone"]); a99 = median(p99["alone"]); b50 = median(p50["beside"]); b99 = median(p99["beside"])
        printf "healthy service alone:   p50 %.3f ms, p99 %.3f ms\n", a50, a99
        printf "beside a stalled one:    p50 %.3f ms, p99 %.3f ms\n", b50, b99
        printf "p99 beside / alone: %.3fx (target <= 1.10x)\n", b99 / a99
    }' "$OUT/results"

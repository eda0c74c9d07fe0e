#!/usr/bin/env bash
# Soak benchmark (hand-run; NOT a test): mixed traffic (pass-through, translated, cached, payments;
# bench/soak/soak.lua) at half the measured capacity for 10 minutes, against the release binary
# and `lienthong mocks`. Every 10 s it samples the gateway's resident memory (VmRSS) and open file
# descriptors. Targets (issue "Trust", §6): RSS growth under 10 % after the warm-up (the first
# minute), no file-descriptor growth, no error.
#
# Usage: bench/soak/run.sh [-B BINARY] [-m MINUTES] [-c CONNS]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lienthong"
MINUTES=10
CONNS=16
while getopts "B:m:c:" opt; do
    case "$opt" in
        B) BIN=$(realpath "$OPTARG") ;;
        m) MINUTES=$OPTARG ;;
        c) CONNS=$OPTARG ;;
        *) echo "usage: $0 [-B BINARY] [-m MINUTES] [-c CONNS]" >&2; exit 2 ;;
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
export LIENTHONG_SOAK_C06_SECRET=demo-c06-secret LIENTHONG_SOAK_C06_APIKEY=demo-c06-apikey
export LIENTHONG_SOAK_NGSP_SECRET=demo-ngsp-secret LIENTHONG_SOAK_VNPAY_SECRET=demo-vnpay-secret
export LIENTHONG_SOAK_AUDIT_KEY=soak-only-audit-subject-key-not-for-production
export LIENTHONG_SOAK_TOKEN_KEY=soak-only-token-signing-key-not-for-production
cat > "$OUT/gateway.toml" <<CONF
[[listeners]]
addr = "127.0.0.1:18091"
plain_http = true

[auth]
token_signing_key = "env:LIENTHONG_SOAK_TOKEN_KEY"

[store]
url = "sqlite://$OUT/soak.db"

[telemetry]
log_format = "json"
log_level = "warn"
access_log = true

[audit]
subject_key = "env:LIENTHONG_SOAK_AUDIT_KEY"

[services.catalogue]
kind = "passthrough"
base_url = "http://127.0.0.1:18100"
routes = [{ operation = "list", methods = ["GET"], path = "/procedures" }]

[services.population]
kind = "population"
base_url = "http://127.0.0.1:18101/dancuquocgia"
personal_data = true
population = { username = "lienthong", secret = "env:LIENTHONG_SOAK_C06_SECRET", api_key = "env:LIENTHONG_SOAK_C06_APIKEY", service_unit_code = "46001", unit_code = "46001", account = "lienthong.soak" }
cache = { ttl_s = 0 }

[services.enterprise]
kind = "enterprise"
base_url = "http://127.0.0.1:18102"
enterprise = { client_id = "demo-ngsp-key", client_secret = "env:LIENTHONG_SOAK_NGSP_SECRET" }

[services.payments]
kind = "payments"
base_url = "http://127.0.0.1:18091"

[payments]
sweep_interval_s = 3600

[payments.vnpay]
pay_url = "http://127.0.0.1:18104/paymentv2/vpcpay.html"
api_url = "http://127.0.0.1:18104/merchant_webapi/api/transaction"
merchants = [{ agency = "soak", tmn_code = "DEMO0001", hash_secret = "env:LIENTHONG_SOAK_VNPAY_SECRET" }]

[[clients]]
id = "soak"
api_keys_sha256 = ["$HASH"]
rate_limit = { per_minute = 1000000000, burst = 1000000000 }
allow = [
  { service = "catalogue", operations = ["*"] },
  { service = "population", operations = ["*"] },
  { service = "enterprise", operations = ["*"] },
  { service = "payments", operations = ["*"] },
]
CONF

"$BIN" mocks > "$OUT/mocks.log" 2>&1 & PIDS+=($!)
"$BIN" serve --config "$OUT/gateway.toml" > "$OUT/gateway.log" 2>&1 & GW=$!; PIDS+=($GW)
for _ in $(seq 100); do
    curl -fs -o /dev/null http://127.0.0.1:18091/readyz && curl -fs -o /dev/null http://127.0.0.1:18100/procedures && break
    sleep 0.1
done
LUA="$ROOT/bench/soak/soak.lua"
run_wrk() { # seconds delay_ms -> wrk output
    wrk -t2 -c"$CONNS" -d"$1s" --latency -H "Authorization: Bearer $KEY" -s "$LUA" http://127.0.0.1:18091 -- "$2"
}
errors_of() { awk '/Non-2xx or 3xx responses/ {n+=$NF} /Socket errors/ {gsub(",", ""); n+=$4+$6+$8+$10} END {print n+0}'; }

echo "== measuring capacity (20 s, no delay)"
run_wrk 20 0 > "$OUT/capacity.txt"
CAP=$(awk '/Requests\/sec/ {print $2}' "$OUT/capacity.txt")
# Each connection waits DELAY ms between requests: CONNS connections at half the capacity.
DELAY=$(awk -v c="$CONNS" -v cap="$CAP" 'BEGIN {printf "%d", c * 1000 / (cap / 2)}')
echo "== capacity $CAP req/s: soaking at about half ($CONNS connections, ${DELAY} ms apart) for $MINUTES min"
sample() { # -> "seconds rss_kb fds"
    echo "$1 $(awk '/VmRSS/ {print $2}' /proc/$GW/status) $(ls /proc/$GW/fd | wc -l)"
}
: > "$OUT/samples"
run_wrk $((MINUTES * 60)) "$DELAY" > "$OUT/soak.txt" &
WRK=$!
for s in $(seq 0 10 $((MINUTES * 60))); do
    sample "$s" >> "$OUT/samples"
    kill -0 "$WRK" 2>/dev/null || break
    sleep 10
done
wait "$WRK"
cat "$OUT/samples"
RATE=$(awk '/Requests\/sec/ {print $2}' "$OUT/soak.txt")
ERRORS=$(errors_of < "$OUT/soak.txt")
echo
echo "soak benchmark  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs  $MINUTES min at $RATE req/s (capacity $CAP req/s), $CONNS connections"
awk -v errors="$ERRORS" '
    $1 == 60 { rss0 = $2; fd0 = $3 }
    $1 >= 60 { if ($2 > rssmax) rssmax = $2; if ($3 > fdmax) fdmax = $3; last = $2; lastfd = $3 }
    END {
        printf "RSS after warm-up %d kB, highest after %d kB, last %d kB: growth %.1f %% (target < 10 %%)\n", rss0, rssmax, last, 100 * (rssmax - rss0) / rss0
        printf "open fds after warm-up %d, highest after %d, last %d (target: no growth)\n", fd0, fdmax, lastfd
        printf "errors (non-2xx, socket errors): %d (target 0)\n", errors
    }' "$OUT/samples"
grep -E "Latency|Req/Sec|requests in|refused:|socket errors:" "$OUT/soak.txt"

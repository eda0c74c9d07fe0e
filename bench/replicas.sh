#!/usr/bin/env bash
# Scale-out benchmark (hand-run; NOT a test): lienthong replicas on one PostgreSQL and one Redis.
#
# 1. Pass-through, with the same wrk settings, in turn:
#      one   wrk -> one lienthong -> upstream                     http://127.0.0.1:18084/v1/proxy/fixed
#      lb1   wrk -> nginx load balancer -> that one lienthong     http://127.0.0.1:18086/v1/proxy/fixed
#      lb2   wrk -> nginx load balancer -> two lienthong          http://127.0.0.1:18087/v1/proxy/fixed
#    The upstream is bench/passthrough.sh's fixed-response nginx (bench/nginx-upstream.conf, port
#    18081); lienthong runs bench/lienthong-bench.toml with its store switched to PostgreSQL (a
#    schema of its own, dropped on exit) and a [redis] table (replicas = 2, a key prefix of its
#    own), so that the client rate limit is the cluster-wide one in Redis on every request. The
#    balancers are nginx (bench/nginx-balancer.sh: 1 worker, keep-alive pool to each process).
#    Prints req/s, p50 and p99 of each, and lb2/lb1 and lb2/one.
# 2. Durable IPNs on PostgreSQL: bench/ipn.sh -S <server> on one process, then -r 2 on two behind
#    the balancer (its output: req/s, p50, p99, RspCodes and the ledger check).
#
# Every process listens on 127.0.0.1 only and is stopped on exit. On a machine whose cores are
# shared by every process here (wrk, nginx, both replicas, PostgreSQL, Redis), two replicas cannot
# do more work than one: the figures then show the cost of the extra hop and of the shared
# backends, not the gain of a second machine.
#
# Needs nginx, wrk, curl, psql, python3 (bench/setup.sh installs nginx and wrk), a PostgreSQL and
# a Redis.
#
# Usage: bench/replicas.sh [options]
#   -S URL       PostgreSQL server        (default postgres://postgres@127.0.0.1:5432/test)
#   -R URL       Redis                    (default redis://127.0.0.1:6379)
#   -c CONNS     wrk connections          (default 64)
#   -d SECONDS   measured run length      (default 15)
#   -W SECONDS   warm-up before each run  (default 3; 0 = none)
#   -t THREADS   wrk threads              (default 1)
#   -w N         lienthong --worker-threads of each process (default 2)
#   -N ORDERS    pending orders the IPN runs seed (default 100000)
#   -T LIST      parts to run: passthrough,ipn (default both)
#   -o DIR       keep configs, wrk outputs and logs in DIR (default: a temp dir, removed on exit)
#   -n           do not run `cargo build --release` (use $CARGO_TARGET_DIR/release/lienthong as is)
#   -B FILE      lienthong binary to run instead (implies -n)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"

PG_SERVER="postgres://postgres@127.0.0.1:5432/test"
REDIS_URL="redis://127.0.0.1:6379"
CONNS=64
DURATION=15
WARMUP=3
WRK_THREADS=1
WORKERS=2
ORDERS=100000
PARTS="passthrough,ipn"
OUT=""
BUILD=1
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lienthong"

API_KEY="bench-key-0123456789"
UP_PORT=18081
LT_PORTS=(18084 18085)
LB1_PORT=18086
LB2_PORT=18087

die() { echo "replicas.sh: FAIL: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

while getopts "S:R:c:d:W:t:w:N:T:o:nB:h" opt; do
    case "$opt" in
        S) PG_SERVER=$OPTARG ;;
        R) REDIS_URL=$OPTARG ;;
        c) CONNS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        W) WARMUP=$OPTARG ;;
        t) WRK_THREADS=$OPTARG ;;
        w) WORKERS=$OPTARG ;;
        N) ORDERS=$OPTARG ;;
        T) PARTS=$OPTARG ;;
        o) OUT=$OPTARG ;;
        n) BUILD=0 ;;
        B) BIN=$(realpath "$OPTARG"); BUILD=0 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option (see -h)" ;;
    esac
done
for v in CONNS DURATION WARMUP WRK_THREADS WORKERS ORDERS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number"
done
want() { [[ ",$PARTS," == *",$1,"* ]]; }
for tool in nginx wrk curl psql python3; do
    command -v "$tool" >/dev/null || die "$tool not found (bench/setup.sh installs nginx and wrk)"
done

if [[ "$BUILD" == 1 ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

TMP="$(mktemp -d /tmp/lienthong-replicas.XXXXXX)"
chmod 755 "$TMP"  # nginx workers run as an unprivileged user when started by root
RAW="${OUT:-$TMP}"
mkdir -p "$RAW"
PIDS=()
SCHEMA=""
# shellcheck source=pg-schema.sh
. "$BENCH/pg-schema.sh"
cleanup() {
    stop_pids "${PIDS[@]}"
    pg_schema_drop "$PG_SERVER" "$SCHEMA"
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

wait_http() { # url pid name
    for _ in $(seq 200); do  # at most ~20 s
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited during start (logs in $RAW)"
        sleep 0.1
    done
    die "$3 did not answer $1 within 20 s"
}

# One wrk run; prints "req/s p50_ms p99_ms" and fails on socket errors or non-2xx answers.
run_wrk() { # url seconds outfile
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${2}s" --latency -H "Authorization: Bearer $API_KEY" "$1" > "$3"
    if grep -qE "Socket errors|Non-2xx" "$3"; then cat "$3" >&2; die "errors in $3"; fi
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /^Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
        END { printf "%s %.3f %.3f\n", rps, p50, p99 }' "$3"
}

passthrough() {
    SCHEMA="lt_bench_replicas_$$"
    local store_url
    store_url=$(pg_schema_create "$PG_SERVER" "$SCHEMA") || die "cannot create schema on $PG_SERVER"
    # shellcheck source=bench-env.sh
    . "$BENCH/bench-env.sh"

    mkdir -p "$TMP/upstream/tmp"
    nginx -p "$TMP/upstream/" -e "$TMP/upstream/error.log" -c "$BENCH/nginx-upstream.conf" &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$UP_PORT/" "$!" "upstream nginx"

    local n port config
    for n in 0 1; do
        port=${LT_PORTS[$n]}
        config="$RAW/lienthong-$((n + 1)).toml"
        sed -e "s|^addr = \"127.0.0.1:18083\"|addr = \"127.0.0.1:$port\"|" \
            -e "s|^url = \"sqlite::memory:\"|url = \"$store_url\"|" "$BENCH/lienthong-bench.toml" > "$config"
        grep -q "127.0.0.1:$port" "$config" && grep -q "search_path" "$config" \
            || die "bench/lienthong-bench.toml no longer has the listener or store lines this script replaces"
        cat >> "$config" <<EOF

# Added by bench/replicas.sh: the cluster-wide rate limit in Redis.
[redis]
url = "$REDIS_URL"
key_prefix = "lienthong-bench-$$:"
replicas = 2
EOF
        "$BIN" check-config "$config" >/dev/null || die "lienthong check-config $config failed"
        # One after the other: the first migrates the schema.
        "$BIN" serve --config "$config" --worker-threads "$WORKERS" > "$RAW/lienthong-$((n + 1)).log" 2>&1 &
        PIDS+=($!)
        wait_http "http://127.0.0.1:$port/healthz" "$!" "lienthong $((n + 1))"
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $API_KEY" \
        "http://127.0.0.1:${LT_PORTS[0]}/v1/proxy/fixed")" = 200 ] || die "lienthong does not answer 200"

    local name listen
    for name in lb1 lb2; do
        if [ "$name" = lb1 ]; then listen=$LB1_PORT; set -- "${LT_PORTS[0]}"; else listen=$LB2_PORT; set -- "${LT_PORTS[@]}"; fi
        mkdir -p "$TMP/$name/tmp"
        "$BENCH/nginx-balancer.sh" "$listen" "$@" > "$TMP/$name/balancer.conf"
        nginx -p "$TMP/$name/" -e "$TMP/$name/error.log" -c "$TMP/$name/balancer.conf" &
        PIDS+=($!)
        wait_http "http://127.0.0.1:$listen/healthz" "$!" "nginx $name"
    done

    declare -A URL=(
        [one]="http://127.0.0.1:${LT_PORTS[0]}/v1/proxy/fixed"
        [lb1]="http://127.0.0.1:$LB1_PORT/v1/proxy/fixed"
        [lb2]="http://127.0.0.1:$LB2_PORT/v1/proxy/fixed"
    )
    declare -A RESULT
    local target
    for target in one lb1 lb2; do
        if [ "$WARMUP" -gt 0 ]; then run_wrk "${URL[$target]}" "$WARMUP" "$RAW/warmup-$target.txt" >/dev/null; fi
        log "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s $target"
        RESULT[$target]=$(run_wrk "${URL[$target]}" "$DURATION" "$RAW/wrk-$target.txt")
    done
    {
        printf "%-6s %12s %9s %9s\n" target "req/s" "p50 ms" "p99 ms"
        for target in one lb1 lb2; do
            # shellcheck disable=SC2086
            printf "%-6s %12.1f %9.3f %9.3f\n" "$target" ${RESULT[$target]}
        done
        awk -v one="${RESULT[one]%% *}" -v lb1="${RESULT[lb1]%% *}" -v lb2="${RESULT[lb2]%% *}" \
            'BEGIN { printf "lb2/lb1 rps: %.3fx; lb2/one rps: %.3fx\n", lb2 / lb1, lb2 / one }'
    } | tee "$RAW/passthrough-summary.txt"
    # The pass-through processes must be gone before the IPN runs take the CPUs.
    stop_pids "${PIDS[@]}"
    PIDS=()
}

ipn() {
    local replicas
    for replicas in 1 2; do
        log "bench/ipn.sh on PostgreSQL, $replicas process(es)"
        "$BENCH/ipn.sh" -B "$BIN" -S "$PG_SERVER" -r "$replicas" -c "$CONNS" -d "$DURATION" \
            -t "$WRK_THREADS" -w "$WORKERS" -N "$ORDERS" ${OUT:+-o "$OUT/ipn-$replicas"} \
            | tee -a "$RAW/ipn-summary.txt"
    done
}

if want passthrough; then passthrough; fi
if want ipn; then ipn; fi

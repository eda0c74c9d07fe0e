#!/usr/bin/env bash
# Durable IPN benchmark (hand-run; NOT a test). Loads GET /v1/providers/vnpay/ipn with correctly
# signed VNPay IPNs, one per pending order, on the embedded SQLite ledger (WAL, synchronous=FULL:
# every success is on disk before the answer), or with -S on PostgreSQL (in a schema of its own,
# dropped on exit), and with -r on several gateway processes behind an nginx load balancer. Prints requests/s and p50/p99 latency, how many
# IPNs were answered 00 (recorded now), 02 (already recorded) and anything else, and checks that
# the ledger holds exactly as many paid orders as 00 answers. Target (docs/performance.md):
# >= 1000 IPNs/s with p99 reported.
#
# How: the gateway starts once to create its schema; python3 (stdlib sqlite3, hmac) seeds N pending
# orders and writes N signed IPN paths (pre-generated, so the load generator only reads a list);
# wrk replays them round-robin with bench/ipn.lua. Everything listens on 127.0.0.1 only; every
# process started here is stopped on exit.
#
# Needs wrk and python3; psql with -S; nginx with -r above 1.
#
# Usage: bench/ipn.sh [options]
#   -c CONNS     wrk connections                    (default 64)
#   -d SECONDS   measured run length                (default 15)
#   -t THREADS   wrk threads                        (default 1)
#   -w N         lienthong --worker-threads         (default 2)
#   -N ORDERS    pending orders seeded (each IPN pays one; more IPNs than orders get 02)
#                                                   (default 100000)
#   -S URL       PostgreSQL server (postgres://USER@HOST:PORT/DB) for the ledger instead of SQLite
#   -r N         gateway processes (ports PORT+1...) behind an nginx load balancer on PORT, with
#                a keep-alive pool to each (default 1: no load balancer)
#   -o DIR       keep the database, IPN list, wrk output and log in DIR (default: a temp dir)
#   -n           do not run `cargo build --release` (use target/release/lienthong as is)
#   -B FILE      lienthong binary to run instead of target/release/lienthong (implies -n)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"

CONNS=64
DURATION=15
WRK_THREADS=1
WORKERS=2
ORDERS=100000
OUT=""
BUILD=1
BIN="$ROOT/target/release/lienthong"
PG_SERVER=""
REPLICAS=1
PORT=18093
TMN="BENCH001"
SECRET="bench-vnpay-secret-not-for-production"

die() { echo "ipn.sh: FAIL: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

while getopts "c:d:t:w:N:S:r:o:nB:" opt; do
    case "$opt" in
        c) CONNS="$OPTARG" ;;
        d) DURATION="$OPTARG" ;;
        t) WRK_THREADS="$OPTARG" ;;
        w) WORKERS="$OPTARG" ;;
        N) ORDERS="$OPTARG" ;;
        S) PG_SERVER="$OPTARG" ;;
        r) REPLICAS="$OPTARG" ;;
        o) OUT="$OPTARG" ;;
        n) BUILD=0 ;;
        B) BIN="$OPTARG"; BUILD=0 ;;
        *) sed -n '2,30p' "$0" >&2; exit 2 ;;
    esac
done

command -v wrk >/dev/null || die "wrk is not installed (bench/setup.sh)"
command -v python3 >/dev/null || die "python3 is not installed"
[[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]] || die "-r must be a positive number"
if [[ -n "$PG_SERVER" ]]; then command -v psql >/dev/null || die "psql is not installed"; fi
if (( REPLICAS > 1 )); then command -v nginx >/dev/null || die "nginx is not installed (bench/setup.sh)"; fi

if [[ -z "$OUT" ]]; then
    OUT="$(mktemp -d)"
    KEEP=0
else
    mkdir -p "$OUT"
    KEEP=1
fi
GW_PIDS=()
LB_PID=""
SCHEMA=""
# shellcheck source=pg-schema.sh
. "$BENCH/pg-schema.sh"
cleanup() {
    stop_pids "${GW_PIDS[@]}" $LB_PID
    pg_schema_drop "$PG_SERVER" "$SCHEMA"
    [[ "$KEEP" == 1 ]] || rm -rf "$OUT"
}
trap cleanup EXIT INT TERM

if [[ "$BUILD" == 1 ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

if [[ -n "$PG_SERVER" ]]; then
    SCHEMA="lt_bench_ipn_$$"
    STORE_URL=$(pg_schema_create "$PG_SERVER" "$SCHEMA") || die "cannot create schema $SCHEMA on $PG_SERVER"
    STORE_KIND=PostgreSQL
else
    STORE_URL="sqlite://$OUT/ledger.db"
    STORE_KIND=SQLite
fi
# The port of gateway process N (1-based): PORT itself when alone, else behind the load balancer.
gateway_port() { if (( REPLICAS == 1 )); then echo "$PORT"; else echo $((PORT + $1)); fi; }

printf %s "$SECRET" > "$OUT/vnpay.secret"
cat > "$OUT/lienthong.toml" <<EOF
# Written by bench/ipn.sh.
[[listeners]]
addr = "127.0.0.1:$(gateway_port 1)"
plain_http = true

[store]
url = "$STORE_URL"

[telemetry]
log_format = "json"
access_log = true

[services.payments]
kind = "payments"
base_url = "http://127.0.0.1:$PORT"

[payments]
sweep_interval_s = 86400

[payments.vnpay]
pay_url = "http://127.0.0.1:9/paymentv2/vpcpay.html"
api_url = "http://127.0.0.1:9/merchant_webapi/api/transaction"
merchants = [{ agency = "bench", tmn_code = "$TMN", hash_secret = "file:$OUT/vnpay.secret" }]
EOF

# Starts gateway process N (1-based), on its own copy of the config (only the port differs).
start_gateway() {
    local n=$1 port pid
    port=$(gateway_port "$n")
    sed "s|^addr = \"127.0.0.1:$(gateway_port 1)\"|addr = \"127.0.0.1:$port\"|" "$OUT/lienthong.toml" > "$OUT/lienthong-$n.toml"
    "$BIN" serve --config "$OUT/lienthong-$n.toml" --worker-threads "$WORKERS" >> "$OUT/gateway-$n.log" 2>&1 &
    pid=$!
    GW_PIDS+=("$pid")
    for _ in $(seq 1 100); do
        if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || die "gateway $n exited (see $OUT/gateway-$n.log)"
        sleep 0.1
    done
    die "gateway $n did not start"
}
stop_gateways() {
    stop_pids "${GW_PIDS[@]}"
    GW_PIDS=()
}
# nginx on PORT balancing over the REPLICAS gateway processes, keep-alive pool to each.
start_balancer() {
    mkdir -p "$OUT/nginx/tmp"
    "$ROOT/bench/nginx-balancer.sh" "$PORT" $(for n in $(seq 1 "$REPLICAS"); do gateway_port "$n"; done) \
        > "$OUT/nginx/balancer.conf"
    nginx -p "$OUT/nginx/" -e "$OUT/nginx/error.log" -c "$OUT/nginx/balancer.conf" &
    LB_PID=$!
    for _ in $(seq 1 50); do
        if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "the load balancer did not start (see $OUT/nginx/error.log)"
}

log "creating the schema"
start_gateway 1
stop_gateways

log "seeding $ORDERS pending orders and signing their IPNs"
python3 - "$OUT" "$ORDERS" "$TMN" "$SECRET" "${PG_SERVER:+csv}" <<'PY'
import csv, hashlib, hmac, sqlite3, sys, time, urllib.parse
out, n, tmn, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
as_csv = sys.argv[5] == "csv"  # PostgreSQL: CSV files for psql's \copy
def php(s):  # PHP urlencode: quote_plus keeps '~', PHP does not
    return urllib.parse.quote_plus(s, safe="").replace("~", "%7E")
now = int(time.time() * 1000)
rows = [(f"bench-{i:08d}", "bench", "vnpay", tmn, "bench", f"B{i:08d}", f"HS-B{i}", None, "bench",
         70000, "https://portal.example/", "https://pay.example/", "20260101080000", "pending",
         now, now + 86_400_000, now) for i in range(n)]
if as_csv:
    with open(f"{out}/payments.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with open(f"{out}/payment_items.csv", "w", newline="") as f:
        csv.writer(f).writerows((r[0], 0, "F", "F", 70000) for r in rows)
else:
  db = sqlite3.connect(f"{out}/ledger.db")
  db.executemany("""INSERT INTO payments (id, client_id, provider, merchant, agency, txn_ref, dossier_id,
    payer, description, amount_vnd, return_url, pay_url, provider_created, status, created_at_ms,
    expires_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
  db.executemany("INSERT INTO payment_items (payment_id, line, code, name, amount_vnd) VALUES (?, 0, 'F', 'F', 70000)",
                 [(r[0],) for r in rows])
  db.commit()
with open(f"{out}/ipn.paths", "w") as f:
    for i in range(n):
        p = {"vnp_TmnCode": tmn, "vnp_TxnRef": f"B{i:08d}", "vnp_Amount": "7000000",
             "vnp_BankCode": "NCB", "vnp_CardType": "ATM", "vnp_OrderInfo": "Le phi ho so",
             "vnp_PayDate": "20260101081500", "vnp_ResponseCode": "00",
             "vnp_TransactionStatus": "00", "vnp_TransactionNo": str(60_000_000 + i)}
        q = "&".join(f"{php(k)}={php(v)}" for k, v in sorted(p.items()))
        h = hmac.new(secret, q.encode(), hashlib.sha512).hexdigest()
        f.write(f"/v1/providers/vnpay/ipn?{q}&vnp_SecureHashType=HmacSHA512&vnp_SecureHash={h}\n")
PY

PAYMENT_COLUMNS="id, client_id, provider, merchant, agency, txn_ref, dossier_id, payer, description, amount_vnd, return_url, pay_url, provider_created, status, created_at_ms, expires_at_ms, updated_at_ms"
if [[ -n "$PG_SERVER" ]]; then
    psql -q "$STORE_URL" -v ON_ERROR_STOP=1 \
        -c "\\copy payments ($PAYMENT_COLUMNS) FROM '$OUT/payments.csv' WITH (FORMAT csv)" \
        -c "\\copy payment_items (payment_id, line, code, name, amount_vnd) FROM '$OUT/payment_items.csv' WITH (FORMAT csv)" \
        || die "seeding PostgreSQL failed"
fi
paid_in_ledger() {
    local sql="SELECT count(*) FROM payments WHERE status = 'paid'"
    if [[ -n "$PG_SERVER" ]]; then
        psql -qtA "$STORE_URL" -c "$sql"
    else
        python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$OUT/ledger.db" "$sql"
    fi
}

for n in $(seq 1 "$REPLICAS"); do start_gateway "$n"; done
(( REPLICAS == 1 )) || start_balancer
log "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s ($REPLICAS gateway process(es), --worker-threads $WORKERS, store $STORE_KIND)"
IPN_PATHS="$OUT/ipn.paths" WRK_THREADS="$WRK_THREADS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$BENCH/ipn.lua" "http://127.0.0.1:$PORT" > "$OUT/wrk.txt"
stop_gateways

cat "$OUT/wrk.txt" >&2
RPS=$(awk '/^Requests\/sec/ { print $2 }' "$OUT/wrk.txt")
P50=$(awk '$1 == "50%" { print $2 }' "$OUT/wrk.txt")
P99=$(awk '$1 == "99%" { print $2 }' "$OUT/wrk.txt")
ERRS=$(awk '/Socket errors|Non-2xx/ { print }' "$OUT/wrk.txt")
read -r N00 N02 NOTHER < <(awk '/^rspcodes/ { print $2, $3, $4 }' "$OUT/wrk.txt")
PAID=$(paid_in_ledger)

echo "ipn ($REPLICAS process(es), $STORE_KIND): ${RPS} req/s  p50 ${P50}  p99 ${P99}  RspCode 00=${N00} 02=${N02} other=${NOTHER}  paid in ledger=${PAID}"
[[ -z "$ERRS" ]] || die "$ERRS"
[[ "${NOTHER:-1}" == 0 ]] || die "answers other than 00/02"
# Requests cut by wrk's stop may be committed without their answer being counted: allow that many.
if (( PAID < N00 || PAID > N00 + CONNS )); then
    die "ledger has $PAID paid orders for $N00 answers 00"
fi

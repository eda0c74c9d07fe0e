#!/usr/bin/env bash
# Pass-through load benchmark (hand-run; NOT a test). Loads, in turn and with the same wrk settings:
#   direct     wrk -> fixed-response nginx upstream            http://127.0.0.1:18081/
#   nginx      wrk -> nginx reverse proxy -> upstream          http://127.0.0.1:18082/
#   lienthong  wrk -> lienthong (auth, ACL, rate limit, access log) -> upstream
#                                                               http://127.0.0.1:18083/v1/proxy/fixed
# and, when asked for with -T, the registry paths of the same lienthong process:
#   verify     wrk -> lienthong -> population database mock: the translated path (JSON -> C06-signed
#              SOAP -> JSON, a durable audit record per call), no cache; bench/verify.lua rotates
#              over well-known citizens          POST http://127.0.0.1:18083/v1/citizens/verify
#   enterprise wrk -> lienthong, answered from its cache (filled before the runs): the cache-hit path
#                                                 GET http://127.0.0.1:18083/v1/enterprises/0314409058
# and, also only with -T, the floor of lienthong's HTTP stack:
#   bare       wrk -> examples/bare_proxy.rs (hyper's HTTP/1 server, hyper-util's pooled client,
#              tokio; nothing else) -> upstream     http://127.0.0.1:18084/
#              Built with `cargo build --release --example bare_proxy` unless -X names a binary;
#              it runs with the -w worker threads and the proxy's pinning, like lienthong.
#   bareserve  wrk -> the same program answering the upstream's fixed body itself (no upstream):
#              the floor of an answer without an upstream, e.g. a cache hit
#                                                   http://127.0.0.1:18085/
# The registry mocks run as their own process (`lienthong mocks --config bench/mocks-registry.toml
# --seed 42`: population on 18101, enterprise registry on 18102), placed like the upstream nginx;
# their CPU is the "upstream" CPU of the verify and enterprise runs. With verify, lienthong uses a
# file store in the temp dir (sqlite://TMP/bench.db) instead of sqlite::memory:, so that the audit
# is durable as in production.
# Prints requests/s, p99 latency, the lienthong/nginx rps ratio and the p99 each proxy adds over
# direct, and with the registry targets verify/lienthong (target >= 0.7) and enterprise/nginx
# (target >= 1.5). Fails loudly if any response is not 2xx, or on socket errors, or (registry
# targets) if a verify is not a match before the runs, the mock did not receive every verify, or
# the enterprise registry was called during an enterprise run (it must be all cache hits).
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
#
# Needs nginx and wrk (bench/setup.sh installs them). See docs/performance.md for results.
#
# Usage: bench/passthrough.sh [options]
#   -c CONNS     wrk connections                     (default 64)
#   -d SECONDS   measured run length                 (default 15)
#   -W SECONDS   warm-up run before each measured run (default 3; 0 = none)
#   -t THREADS   wrk threads                          (default 1)
#   -w N         lienthong --worker-threads           (default 2)
#   -r ROUNDS    measured rounds; targets interleaved; medians reported (default 1)
#   -P MODE      CPU pinning: none | split           (default none)
#                split: wrk + upstream nginx (and the mocks) on CPU 0, the proxy under test (nginx
#                or lienthong, every thread of it) on CPU 1. Needs 2+ CPUs.
#   -T LIST      targets, comma-separated subset of direct,nginx,lienthong,verify,enterprise,bare,bareserve, taking
#                turns in the order given (default direct,nginx,lienthong); the registry run:
#                -T nginx,lienthong,verify,enterprise
#   -V VARIANT   lienthong config variant, for diagnostics only:
#                full (default: bench/lienthong-bench.toml as is) | no-access-log |
#                no-rate-limit | no-access-log-no-rate-limit
#   -C FILE      lienthong config file (default bench/lienthong-bench.toml)
#   -o DIR       keep raw wrk outputs and logs in DIR (default: a temp dir, removed on exit)
#   -Q SECONDS   before each measured run, wait up to SECONDS for the machine to be quiet (at most
#                10% CPU busy over 1 s), and redo (up to 3 times) a run during which other processes
#                took more than 5% of the CPUs; default 0 (only warn). The summary reports the
#                largest such share among the runs kept: above 5%, the results are suspect.
#   -F           diagnostics (perturbs the numbers a little): during each measured run, `perf stat`
#                counts syscalls and context switches of the server under test (per request in
#                the log and perfstat.tsv), and during the first lienthong run `perf record`
#                samples lienthong (cpu-clock, DWARF call graphs) into DIR/perf-lienthong.data.
#                Needs `perf` (Debian: linux-perf).
#   -s FILE      only print the summary of the results.tsv of an earlier run (kept with -o), and exit
#   -n           do not run `cargo build --release` (use $CARGO_TARGET_DIR/release/lienthong, by
#                default target/release/lienthong, as is)
#   -B FILE      lienthong binary to run instead (implies -n), e.g. a copy kept aside so that
#                later builds of the working tree do not change it mid-study; it also runs the mocks
#   -X FILE      bare_proxy binary for the bare target (default: built, or with -n taken from
#                $CARGO_TARGET_DIR/release/examples/bare_proxy)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"

CONNS=64
DURATION=15
WARMUP=3
WRK_THREADS=1
WORKERS=2
ROUNDS=1
PIN=none
TARGETS="direct,nginx,lienthong"
VARIANT=full
CONFIG="$BENCH/lienthong-bench.toml"
OUT=""
BUILD=1
QUIET_WAIT=0
PERF=0
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lienthong"
BARE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bare_proxy"
BARE_SET=""

API_KEY="bench-key-0123456789"
UP_PORT=18081
NGX_PORT=18082
LT_PORT=18083
BARE_PORT=18084
BARESERVE_PORT=18085
# The registry targets: mocks config and ports (as in bench/mocks-registry.toml and the services
# of bench/lienthong-bench.toml), the wrk script of verify, the enterprise looked up.
MOCKS_CONFIG="$BENCH/mocks-registry.toml"
POP_PORT=18101
ENT_PORT=18102
VERIFY_LUA="$BENCH/verify.lua"
# The headers of every verify (curl and wrk): X-User-Id is the official who asks, a 12-digit
# personal id number (the gateway refuses anything else on personal-data endpoints); X-Dossier-Id
# the dossier the access is for. Both are audited.
VERIFY_HEADERS=(-H "Content-Type: application/json" -H "X-User-Id: 046185000123" -H "X-Dossier-Id: HS-BENCH-0001")
ENTERPRISE_CODE=0314409058
# The secrets lienthong-bench.toml names: the mocks' documented default credentials, and an audit
# subject key used only here.
# shellcheck source=bench-env.sh
. "$BENCH/bench-env.sh"

die() { echo "passthrough.sh: FAIL: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# Summary of a results.tsv: per target, medians over the runs during which other processes took at
# most 5% of the CPUs (all runs, flagged, when a target has no such run).
summarize() { # results.tsv
    awk -F'\t' '
    NR == 1 { next }
    {
        t = $2; clean = ($11 <= 5)
        if (!(t in seen)) { seen[t] = 1; order[++k] = t }
        na[t]++; A_rps[t, na[t]] = $3; A_p99[t, na[t]] = $4; A_p50[t, na[t]] = $5; A_cpu[t, na[t]] = $8
        if (clean) { nc[t]++; C_rps[t, nc[t]] = $3; C_p99[t, nc[t]] = $4; C_p50[t, nc[t]] = $5; C_cpu[t, nc[t]] = $8 }
        else suspect++
    }
    function median(arr, t, cnt,   i, j, v, tmp) {
        for (i = 1; i <= cnt; i++) v[i] = arr[t, i]
        for (i = 2; i <= cnt; i++) { tmp = v[i]; for (j = i - 1; j >= 1 && v[j] > tmp; j--) v[j + 1] = v[j]; v[j + 1] = tmp }
        return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
    }
    END {
        for (i = 1; i <= k; i++) {
            t = order[i]
            if (nc[t] > 0) { R[t] = median(C_rps, t, nc[t]); P[t] = median(C_p99, t, nc[t]); M[t] = median(C_p50, t, nc[t]); C[t] = median(C_cpu, t, nc[t]); used[t] = nc[t] "/" na[t] }
            else { R[t] = median(A_rps, t, na[t]); P[t] = median(A_p99, t, na[t]); M[t] = median(A_p50, t, na[t]); C[t] = median(A_cpu, t, na[t]); used[t] = na[t] "/" na[t] " SUSPECT" }
        }
        printf "%-10s %12s %9s %9s %14s %10s %12s  %s\n", "target", "req/s", "p50 ms", "p99 ms", "p99 added ms", "rps/nginx", "CPU us/req", "runs used"
        for (i = 1; i <= k; i++) {
            t = order[i]
            added = ("direct" in R && t != "direct") ? sprintf("%+.3f", P[t] - P["direct"]) : "-"
            ratio = ("nginx" in R && R["nginx"] > 0) ? sprintf("%.3f", R[t] / R["nginx"]) : "-"
            printf "%-10s %12.1f %9.3f %9.3f %14s %10s %12.1f  %s\n", t, R[t], M[t], P[t], added, ratio, C[t], used[t]
        }
        if (("nginx" in R) && ("lienthong" in R)) {
            printf "\nlienthong/nginx rps: %.3fx", R["lienthong"] / R["nginx"]
            if ("direct" in R) printf "; p99 added over direct: nginx %+.3f ms, lienthong %+.3f ms", P["nginx"] - P["direct"], P["lienthong"] - P["direct"]
            printf "\n"
            ok = (R["lienthong"] >= R["nginx"]) && (("direct" in R) ? (P["lienthong"] - P["direct"] <= 1.0) : 1)
            printf "target (lienthong >= 1.0x nginx rps, p99 added <= 1 ms): %s\n", ok ? "MET" : "NOT MET"
        }
        if (("bare" in R) && ("nginx" in R) && R["nginx"] > 0) {
            printf "bare hyper proxy/nginx rps: %.3fx (the most this HTTP stack reaches here)", R["bare"] / R["nginx"]
            if ("lienthong" in R) printf "; lienthong/bare: %.3fx", R["lienthong"] / R["bare"]
            printf "\n"
        }
        if (("bareserve" in R) && ("nginx" in R) && R["nginx"] > 0) {
            printf "bare hyper server/nginx pass-through rps: %.3fx (the most an answer without upstream reaches here)", R["bareserve"] / R["nginx"]
            if ("enterprise" in R) printf "; enterprise/bareserve: %.3fx", R["enterprise"] / R["bareserve"]
            printf "\n"
        }
        if (("verify" in R) && ("lienthong" in R) && R["lienthong"] > 0) {
            v = R["verify"] / R["lienthong"]
            printf "verify/lienthong rps: %.3fx (target >= 0.7: %s)\n", v, v >= 0.7 ? "MET" : "NOT MET"
        }
        if (("enterprise" in R) && ("nginx" in R) && R["nginx"] > 0) {
            e = R["enterprise"] / R["nginx"]
            printf "enterprise/nginx rps: %.3fx (target >= 1.5: %s)\n", e, e >= 1.5 ? "MET" : "NOT MET"
        }
        printf "(medians; CPU us/req: the proxy under test (lienthong for verify and enterprise), for direct\n"
        printf " the upstream nginx; runs used: runs with at most 5%% of the CPUs taken by other processes /\n"
        printf " all runs kept)\n"
        if (suspect) printf "WARNING: %d run(s) kept while the machine was busy were left out of the medians\n", suspect
    }' "$1"
}

while getopts "c:d:W:t:w:r:P:T:V:C:o:B:X:Q:Fs:nh" opt; do
    case "$opt" in
        c) CONNS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        W) WARMUP=$OPTARG ;;
        t) WRK_THREADS=$OPTARG ;;
        w) WORKERS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        P) PIN=$OPTARG ;;
        T) TARGETS=$OPTARG ;;
        V) VARIANT=$OPTARG ;;
        C) CONFIG=$OPTARG ;;
        o) OUT=$OPTARG ;;
        n) BUILD=0 ;;
        Q) QUIET_WAIT=$OPTARG ;;
        F) PERF=1 ;;
        s) summarize "$OPTARG"; exit 0 ;;
        B) BIN=$(realpath "$OPTARG"); BUILD=0 ;;
        X) BARE_BIN=$(realpath "$OPTARG"); BARE_SET=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option (see -h)" ;;
    esac
done
for v in CONNS DURATION WARMUP WRK_THREADS WORKERS ROUNDS QUIET_WAIT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number"
done
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$WORKERS" -ge 1 ] || die "bad -r/-d/-w"
case "$PIN" in none|split) ;; *) die "-P must be none or split" ;; esac
if [ "$PIN" = split ] && [ "$(nproc)" -lt 2 ]; then die "-P split needs 2 CPUs"; fi
IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
for t in "${TARGET_LIST[@]}"; do
    case "$t" in direct|nginx|lienthong|verify|enterprise|bare|bareserve) ;; *) die "unknown target $t" ;; esac
done
want() { [[ ",$TARGETS," == *",$1,"* ]]; }
# lienthong serves the lienthong, verify and enterprise targets; the mocks serve the last two.
want_registry() { want verify || want enterprise; }
want_gateway() { want lienthong || want_registry; }

command -v nginx >/dev/null || die "nginx not found: run bench/setup.sh"
command -v wrk >/dev/null || die "wrk not found: run bench/setup.sh"
command -v curl >/dev/null || die "curl not found"
if [ "$PERF" = 1 ]; then command -v perf >/dev/null || die "perf not found (Debian: linux-perf)"; fi
if [ "$PIN" = split ]; then command -v taskset >/dev/null || die "taskset not found"; fi

TMP="$(mktemp -d /tmp/lienthong-bench.XXXXXX)"
chmod 755 "$TMP"  # nginx workers run as an unprivileged user when started by root
[ -n "$OUT" ] && mkdir -p "$OUT"
RAW="${OUT:-$TMP}"
PIDS=()
WRK_JOB=""     # the background job running wrk, while one runs
PERF_PIDS=()   # perf stat / perf record, with -F
declare -A ROLE_PID=()  # upstream, proxy, lienthong, mocks -> pid

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$WRK_JOB" ]; then  # the job's child is `timeout`, which passes the signal on to wrk
        for c in $(pgrep -P "$WRK_JOB" || true); do kill -TERM "$c" 2>/dev/null || true; done
        wait "$WRK_JOB" 2>/dev/null || true
    fi
    for pid in "${PERF_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$OUT" ]; then  # keep the small logs; lienthong's access log can be hundreds of MB
        for f in upstream/error.log proxy/error.log lienthong.stderr lienthong.toml mocks.log mocks.stderr; do
            if [ -f "$TMP/$f" ]; then cp "$TMP/$f" "$OUT/${f//\//-}"; fi
        done
        if [ -f "$TMP/lienthong.log" ]; then
            { head -n 5 "$TMP/lienthong.log"; echo "..."; tail -n 5 "$TMP/lienthong.log"; } >"$OUT/lienthong-log-excerpt.txt"
        fi
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# CPU placement (taskset prefixes). "split": load generator and upstream share CPU 0 so that the
# proxy under test gets CPU 1 to itself, the same for nginx and lienthong.
PIN_LOAD=(); PIN_UP=(); PIN_PROXY=()
if [ "$PIN" = split ]; then
    PIN_LOAD=(taskset -c 0); PIN_UP=(taskset -c 0); PIN_PROXY=(taskset -c 1)
fi

port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port pid name
    for _ in $(seq 200); do  # at most ~20 s
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited during start (logs in $RAW)"
        sleep 0.1
    done
    die "$3 did not open 127.0.0.1:$1 within 20 s"
}

http_status() { # url [curl args...]
    local url=$1; shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
}

for p in $UP_PORT $NGX_PORT $LT_PORT $(want bare && echo $BARE_PORT) $(want bareserve && echo $BARESERVE_PORT) $(want_registry && echo $POP_PORT $ENT_PORT); do
    port_open "$p" && die "127.0.0.1:$p is already in use; stop whatever listens there"
done

# ---- lienthong binary and config ----------------------------------------------------------------
if want_gateway; then
    if [ "$BUILD" = 1 ]; then
        log "cargo build --release"
        (cd "$ROOT" && timeout 3600 cargo build --release) || die "cargo build --release failed"
    fi
    [ -x "$BIN" ] || die "$BIN missing (build it, or drop -n/-B)"
    log "lienthong binary: $BIN ($(stat -c '%y' "$BIN" | cut -d. -f1))"
    LT_CONFIG="$TMP/lienthong.toml"
    case "$VARIANT" in
        full) cp "$CONFIG" "$LT_CONFIG" ;;
        no-access-log) sed 's/^access_log = true/access_log = false/' "$CONFIG" >"$LT_CONFIG" ;;
        no-rate-limit) sed '/^rate_limit = /d' "$CONFIG" >"$LT_CONFIG" ;;
        no-access-log-no-rate-limit)
            sed -e 's/^access_log = true/access_log = false/' -e '/^rate_limit = /d' "$CONFIG" >"$LT_CONFIG" ;;
        *) die "unknown variant $VARIANT" ;;
    esac
    if [ "$VARIANT" != full ]; then
        cmp -s "$CONFIG" "$LT_CONFIG" && die "variant $VARIANT changed nothing in $CONFIG"
        log "DIAGNOSTIC variant $VARIANT: $(diff "$CONFIG" "$LT_CONFIG" | grep '^[<>]' | tr '\n' ' ')"
    fi
    if want verify; then
        # A file store, as in production: the personal-data audit record of each verify is written
        # durably before the answer. (sqlite://ABSOLUTE-PATH; the file is created at start.)
        sed -i "s|^url = \"sqlite::memory:\"|url = \"sqlite://$TMP/bench.db\"|" "$LT_CONFIG"
        grep -q "^url = \"sqlite://$TMP/bench.db\"" "$LT_CONFIG" \
            || die "the verify target needs a file store: no url = \"sqlite::memory:\" to replace in $CONFIG"
        log "lienthong store: sqlite://$TMP/bench.db (durable audit of verify)"
    fi
    "$BIN" check-config "$LT_CONFIG" >/dev/null || die "lienthong check-config failed"
fi

want_bare() { want bare || want bareserve; }
if want_bare; then
    if [ "$BUILD" = 1 ] && [ -z "$BARE_SET" ]; then
        log "cargo build --release --example bare_proxy"
        (cd "$ROOT" && timeout 3600 cargo build --release --example bare_proxy) || die "cargo build --example bare_proxy failed"
    fi
    [ -x "$BARE_BIN" ] || die "$BARE_BIN missing (build it with cargo build --release --example bare_proxy, or pass -X)"
fi

# ---- start the servers --------------------------------------------------------------------------
start_nginx() { # name conf port pin...
    local name=$1 conf=$2 port=$3; shift 3
    mkdir -p "$TMP/$name/tmp"
    "$@" nginx -p "$TMP/$name/" -e "$TMP/$name/error.log" -c "$conf" &
    PIDS+=($!)
    ROLE_PID[$name]=$!
    wait_port "$port" "$!" "nginx $name"
    log "nginx $name (pid $!) on 127.0.0.1:$port ${*:+[$*]}"
}

start_nginx upstream "$BENCH/nginx-upstream.conf" $UP_PORT "${PIN_UP[@]}"
[ "$(http_status "http://127.0.0.1:$UP_PORT/")" = 200 ] || die "upstream does not answer 200"
if want nginx; then
    start_nginx proxy "$BENCH/nginx-proxy.conf" $NGX_PORT "${PIN_PROXY[@]}"
    [ "$(http_status "http://127.0.0.1:$NGX_PORT/")" = 200 ] || die "nginx proxy does not answer 200"
fi
if want_registry; then
    "${PIN_UP[@]}" "$BIN" mocks --config "$MOCKS_CONFIG" --seed 42 >"$TMP/mocks.log" 2>"$TMP/mocks.stderr" &
    PIDS+=($!)
    ROLE_PID[mocks]=$!
    wait_port $POP_PORT "$!" "mocks (population)"
    wait_port $ENT_PORT "$!" "mocks (enterprise)"
    log "mocks (pid $!): population on 127.0.0.1:$POP_PORT, enterprise registry on 127.0.0.1:$ENT_PORT ${PIN_UP[*]:+[${PIN_UP[*]}]}"
fi
# `/v1/proxy/fixed` forwards to the upstream's `/`, the same path the direct and nginx runs request.
# (`/v1/proxy/fixed/`, with the trailing slash, answers 404 in lienthong: the `{*path}` route does
# not match an empty path.)
LT_URL="http://127.0.0.1:$LT_PORT/v1/proxy/fixed"
AUTH="Authorization: Bearer $API_KEY"
if want_gateway; then
    "${PIN_PROXY[@]}" "$BIN" serve --config "$LT_CONFIG" --worker-threads "$WORKERS" \
        >"$TMP/lienthong.log" 2>"$TMP/lienthong.stderr" &
    PIDS+=($!)
    ROLE_PID[lienthong]=$!
    wait_port $LT_PORT "$!" lienthong
    log "lienthong (pid $!) on 127.0.0.1:$LT_PORT, --worker-threads $WORKERS ${PIN_PROXY[*]:+[${PIN_PROXY[*]}]}"
    s=$(http_status "$LT_URL" -H "$AUTH")
    [ "$s" = 200 ] || die "lienthong answers $s, not 200, with the bench key"
    s=$(http_status "$LT_URL")
    [ "$s" = 401 ] || die "lienthong answers $s without a key (expected 401: is auth on?)"
    log "lienthong: 200 with the bench key, 401 without (auth is on)"
fi
if want bare; then
    "${PIN_PROXY[@]}" "$BARE_BIN" "127.0.0.1:$BARE_PORT" "http://127.0.0.1:$UP_PORT" "$WORKERS" \
        >"$TMP/bare.log" 2>&1 &
    PIDS+=($!)
    ROLE_PID[bare]=$!
    wait_port $BARE_PORT "$!" bare_proxy
    [ "$(http_status "http://127.0.0.1:$BARE_PORT/")" = 200 ] || die "bare_proxy does not answer 200"
    log "bare_proxy (pid $!) on 127.0.0.1:$BARE_PORT, $WORKERS worker threads ${PIN_PROXY[*]:+[${PIN_PROXY[*]}]}"
fi
if want bareserve; then
    "${PIN_PROXY[@]}" "$BARE_BIN" "127.0.0.1:$BARESERVE_PORT" - "$WORKERS" >"$TMP/bareserve.log" 2>&1 &
    PIDS+=($!)
    ROLE_PID[bareserve]=$!
    wait_port $BARESERVE_PORT "$!" "bare_proxy (server)"
    [ "$(http_status "http://127.0.0.1:$BARESERVE_PORT/")" = 200 ] || die "bare_proxy (server) does not answer 200"
    log "bare_proxy as a bare server (pid $!) on 127.0.0.1:$BARESERVE_PORT, $WORKERS worker threads ${PIN_PROXY[*]:+[${PIN_PROXY[*]}]}"
fi
VERIFY_URL="http://127.0.0.1:$LT_PORT/v1/citizens/verify"
ENTERPRISE_URL="http://127.0.0.1:$LT_PORT/v1/enterprises/$ENTERPRISE_CODE"
if want verify; then
    # Every body verify.lua sends (one JSON object a line there) must be a match, so that the load
    # measures real matches.
    n=0
    while IFS= read -r body; do
        reply=$(curl -s --max-time 10 -w '\n%{http_code}' -H "$AUTH" "${VERIFY_HEADERS[@]}" \
            --data-binary "$body" "$VERIFY_URL" || true)
        s=${reply##*$'\n'}
        [ "$s" = 200 ] || die "verify answers $s, not 200, to a citizen of $VERIFY_LUA: ${reply%$'\n'*}"
        tr -d ' \n' <<<"${reply%$'\n'*}" | grep -q '"match":true' \
            || die "verify does not answer {\"match\": true} to a citizen of $VERIFY_LUA: ${reply%$'\n'*}"
        n=$((n + 1))
    done < <(grep -o '{"citizen_id"[^}]*}' "$VERIFY_LUA")
    [ "$n" -gt 0 ] || die "no request body found in $VERIFY_LUA"
    log "verify: 200 {\"match\": true} for each of the $n citizens of $(basename "$VERIFY_LUA")"
fi
if want enterprise; then
    # The first lookup fills the cache (and fetches the registry token); every later one must be a hit.
    s=$(http_status "$ENTERPRISE_URL" -H "$AUTH")
    [ "$s" = 200 ] || die "enterprise answers $s, not 200"
    resp_head=$(curl -s -o /dev/null -D - --max-time 5 -H "$AUTH" "$ENTERPRISE_URL" || true)
    grep -qi '^HTTP/[0-9.]* 200' <<<"$resp_head" || die "enterprise answers, the second time: $(head -n 1 <<<"$resp_head")"
    cs=$(grep -i '^cache-status:' <<<"$resp_head" | tr -d '\r' || true)
    [[ ${cs,,} == "cache-status: lienthong; hit" ]] \
        || die "enterprise's second lookup is not a cache hit (${cs:-no Cache-Status header})"
    log "enterprise: 200, then 200 with \"$cs\" (cache filled)"
fi

# ---- load ---------------------------------------------------------------------------------------
url_of() {
    case "$1" in
        direct) echo "http://127.0.0.1:$UP_PORT/" ;;
        nginx) echo "http://127.0.0.1:$NGX_PORT/" ;;
        bare) echo "http://127.0.0.1:$BARE_PORT/" ;;
        bareserve) echo "http://127.0.0.1:$BARESERVE_PORT/" ;;
        lienthong) echo "$LT_URL" ;;
        verify) echo "$VERIFY_URL" ;;
        enterprise) echo "$ENTERPRISE_URL" ;;
    esac
}

# CPU accounting, so that each run says how much CPU the proxy spent per request and how much CPU
# processes not started here took meanwhile (a busy machine makes the numbers meaningless).
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
total_busy_ticks() { # all CPUs, since boot: everything but idle and iowait
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
tree_ticks() { # utime + stime of a process, its threads and its direct children (nginx workers)
    tree_ticks_split "$1" | awk '{ print $1 + $2 }'
}
tree_ticks_split() { # "utime stime" of the same
    local pid=$1 pids
    pids="$pid $(pgrep -P "$pid" | tr '\n' ' ' || true)"
    for p in $pids; do
        sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || true
    done | awk '{ u += $12; s += $13 } END { print u + 0, s + 0 }'
}
busy_pct_1s() { # share of all CPUs busy over one second, in %
    local a b
    a=$(total_busy_ticks); sleep 1; b=$(total_busy_ticks)
    awk -v d=$((b - a)) -v hz="$HZ" -v n="$NCPU" 'BEGIN { printf "%.0f", 100 * d / (hz * n) }'
}

run_wrk() { # target seconds outfile [timefile]
    local target=$1 secs=$2 out=$3 timefile=${4:-/dev/null} url
    url=$(url_of "$target")
    local args=(-t"$WRK_THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s --latency)
    case "$target" in
        lienthong|enterprise) args+=(-H "$AUTH") ;;
        verify) args+=(-H "$AUTH" "${VERIFY_HEADERS[@]}" -s "$VERIFY_LUA") ;;
    esac
    local TIMEFORMAT='%R %U %S' rc=0
    # In the background, so that a signal to this script is handled at once (a trap waits for a
    # foreground command to finish); `time` gives wrk's CPU time through `timeout`, which waits for it.
    { time timeout $((secs + 30)) "${PIN_LOAD[@]}" wrk "${args[@]}" "$url" >"$out" 2>&1; } 2>"$timefile" &
    WRK_JOB=$!
    wait "$WRK_JOB" || rc=$?
    WRK_JOB=""
    [ "$rc" = 0 ] || die "wrk against $target failed (exit $rc): $(cat "$out")"
}

to_ms() { # "1.23ms" | "850.00us" | "1.02s" -> ms
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { print "nan" } }'
}

check_wrk() { # target outfile: fail loudly on non-2xx or socket errors
    local target=$1 out=$2
    if grep -q "Non-2xx or 3xx responses" "$out"; then
        die "$target: $(grep 'Non-2xx or 3xx responses' "$out" | xargs) (see $out)"
    fi
    if grep -q "Socket errors" "$out"; then
        die "$target: $(grep 'Socket errors' "$out" | xargs) (see $out)"
    fi
    grep -q '^Requests/sec:' "$out" || die "$target: no wrk summary in $out"
}

RESULTS="$RAW/results.tsv"
# busy_before: % of all CPUs busy in the second before the run (nothing loaded yet);
# proxy_us_req: CPU time of the proxy under test (upstream nginx for direct) per request, in us;
# foreign_pct: % of all CPUs used during the run by processes other than wrk and the servers;
# proxy_user/sys_us_req: proxy_us_req split into user and kernel time.
printf 'round\ttarget\trps\tp99_ms\tp50_ms\trequests\tbusy_before\tproxy_us_req\tupstream_us_req\twrk_us_req\tforeign_pct\tproxy_user_us_req\tproxy_sys_us_req\n' >"$RESULTS"
log "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency (warm-up ${WARMUP}s before each), rounds $ROUNDS, pin $PIN"
REJECTED="$RAW/rejected.tsv"   # runs measured while other processes were busy, then redone
: >"$REJECTED"
MAX_REDO=$([ "$QUIET_WAIT" -gt 0 ] && echo 3 || echo 0)

wait_quiet() { # target; sets $busy
    busy=$(busy_pct_1s)
    local waited=0
    while [ "$busy" -gt 10 ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
        if [ "$waited" = 0 ]; then log "machine ${busy}% busy; waiting up to ${QUIET_WAIT}s for it to be quiet"; fi
        sleep 4; waited=$((waited + 5)); busy=$(busy_pct_1s)
    done
    if [ "$busy" -gt 10 ]; then log "WARNING: machine already ${busy}% busy before the $1 run: results are suspect"; fi
}

# The registry mocks' journals (docs/mocks.md, admin API): what the upstream of the verify and
# enterprise targets really received. Cleared before each of their runs, which also keeps the
# mocks' memory bounded.
journal_clear() { # port
    local s
    s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X DELETE "http://127.0.0.1:$1/__admin/journal" || true)
    [ "$s" = 204 ] || die "cannot clear the journal of the mock on 127.0.0.1:$1 (status $s)"
}
journal_count() { # port query -> number of journaled requests matching the query
    local reply
    reply=$(curl -s --max-time 30 "http://127.0.0.1:$1/__admin/journal/count?$2" || true)
    [[ $reply =~ \"count\":([0-9]+) ]] || die "cannot read the journal of the mock on 127.0.0.1:$1: $reply"
    echo "${BASH_REMATCH[1]}"
}
# After a verify or enterprise run (warm-up included): verify must have reached the population
# database once per answer (no cache anywhere: the path measured is the translated one), and
# enterprise never have reached the registry (every answer a cache hit).
check_upstream_calls() { # target requests-answered
    local n
    case "$1" in
        verify)
            n=$(journal_count $POP_PORT "operation=XacThucThongTinCongDan&status=200")
            # The mock's journal keeps the latest 100,000 requests (docs/mocks.md): at most that
            # many can be counted.
            local expected=$(( $2 < 100000 ? $2 : 100000 ))
            [ "$n" -ge "$expected" ] || die "verify: the population mock answered $n verifications, fewer than the $2 answers wrk received: some were not translated"
            log "verify: the population mock answered $n verifications for $2 answers (warm-up included)" ;;
        enterprise)
            n=$(journal_count $ENT_PORT "")
            [ "$n" = 0 ] || die "enterprise: the registry mock received $n requests during the run: not every answer was a cache hit"
            log "enterprise: the registry mock received no request for $2 answers (warm-up included): all cache hits" ;;
    esac
}

measure() { # round target; appends one line to $RESULTS (or to $REJECTED when redone)
    local round=$1 target=$2 attempt=0 out proxy_pid up0 px0 all0 up1 px1 all1 rps p99 p50 reqs
    local wall wrk_u wrk_s acct px_us up_us wrk_us foreign line pu0 ps0 pu1 ps1
    local up_pid=${ROLE_PID[upstream]} warm_reqs
    case "$target" in
        direct) proxy_pid=${ROLE_PID[upstream]} ;;
        nginx) proxy_pid=${ROLE_PID[proxy]} ;;
        bare) proxy_pid=${ROLE_PID[bare]} ;;
        bareserve) proxy_pid=${ROLE_PID[bareserve]} ;;
        lienthong) proxy_pid=${ROLE_PID[lienthong]} ;;
        verify|enterprise) proxy_pid=${ROLE_PID[lienthong]}; up_pid=${ROLE_PID[mocks]} ;;
    esac
    while :; do
        wait_quiet "$target"
        case "$target" in
            verify) journal_clear $POP_PORT ;;
            enterprise) journal_clear $ENT_PORT ;;
        esac
        warm_reqs=0
        if [ "$WARMUP" -gt 0 ]; then
            run_wrk "$target" "$WARMUP" "$RAW/warmup-$round-$target.txt"
            check_wrk "$target (warm-up)" "$RAW/warmup-$round-$target.txt"
            warm_reqs=$(awk '/requests in/ {print $1}' "$RAW/warmup-$round-$target.txt")
        fi
        out="$RAW/wrk-$round-$target.txt"
        local pstat="" prec="" pstat_out="$RAW/perfstat-$round-$target.csv"
        if [ "$PERF" = 1 ]; then
            perf stat -x, -e raw_syscalls:sys_enter,context-switches,cpu-migrations \
                -p "$(echo "$proxy_pid" $(pgrep -P "$proxy_pid" || true) | tr ' ' ,)" \
                -o "$pstat_out" -- sleep "$DURATION" >/dev/null 2>&1 &
            pstat=$!
            PERF_PIDS+=("$pstat")
            if [ "$target" = lienthong ] && [ "$round" = 1 ]; then
                perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$proxy_pid" \
                    -o "$RAW/perf-lienthong.data" -- sleep "$(( DURATION > 6 ? DURATION - 4 : DURATION ))" \
                    >"$RAW/perf-record.log" 2>&1 &
                prec=$!
                PERF_PIDS+=("$prec")
            fi
        fi
        up0=$(tree_ticks "$up_pid"); read -r pu0 ps0 < <(tree_ticks_split "$proxy_pid"); all0=$(total_busy_ticks)
        run_wrk "$target" "$DURATION" "$out" "$RAW/time-$round-$target.txt"
        up1=$(tree_ticks "$up_pid"); read -r pu1 ps1 < <(tree_ticks_split "$proxy_pid"); all1=$(total_busy_ticks)
        px0=$((pu0 + ps0)); px1=$((pu1 + ps1))
        if [ -n "$pstat" ]; then wait "$pstat" || true; fi
        if [ -n "$prec" ]; then wait "$prec" || log "perf record failed: $(cat "$RAW/perf-record.log")"; fi
        PERF_PIDS=()
        check_wrk "$target" "$out"
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
        p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
        reqs=$(awk '/requests in/ {print $1}' "$out")
        check_upstream_calls "$target" $((warm_reqs + reqs))
        read -r wall wrk_u wrk_s <"$RAW/time-$round-$target.txt"
        acct=$(awk -v hz="$HZ" -v n="$NCPU" -v reqs="$reqs" -v wall="$wall" -v wu="$wrk_u" -v ws="$wrk_s" \
            -v up=$((up1 - up0)) -v px=$((px1 - px0)) -v all=$((all1 - all0)) \
            -v pu=$((pu1 - pu0)) -v ps=$((ps1 - ps0)) \
            -v direct="$([ "$target" = direct ] && echo 1 || echo 0)" 'BEGIN {
                wrk = (wu + ws) * hz                       # ticks
                ours = px + wrk + (direct ? 0 : up)
                foreign = all - ours; if (foreign < 0) foreign = 0
                printf "%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f", px / hz * 1e6 / reqs, (direct ? px : up) / hz * 1e6 / reqs,
                    wrk / hz * 1e6 / reqs, 100 * foreign / (hz * n * wall), pu / hz * 1e6 / reqs, ps / hz * 1e6 / reqs }')
        line=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$round" "$target" "$rps" "$p99" "$p50" "$reqs" "$busy" "$acct")
        IFS=$'\t' read -r px_us up_us wrk_us foreign pu_us ps_us <<<"$acct"
        log "round $round $target: $rps req/s, p50 $p50 ms, p99 $p99 ms, $reqs requests; CPU/req: proxy ${px_us}us (user ${pu_us} + sys ${ps_us}) upstream ${up_us}us wrk ${wrk_us}us; foreign CPU ${foreign}%"
        if [ -n "$pstat" ] && [ -s "$pstat_out" ]; then
            # perf counts over the run's whole length; wrk's request count is over the same length.
            local per
            per=$(awk -F, -v reqs="$reqs" '$3 ~ /sys_enter/ { sc = $1 } $3 ~ /context-switches/ { cs = $1 } $3 ~ /cpu-migrations/ { mg = $1 }
                END { printf "%.2f\t%.3f\t%.4f", sc / reqs, cs / reqs, mg / reqs }' "$pstat_out")
            printf '%s\t%s\t%s\n' "$round" "$target" "$per" >>"$RAW/perfstat.tsv"
            IFS=$'\t' read -r sc cs mg <<<"$per"
            log "round $round $target (perf stat, server under test): $sc syscalls/req, $cs context switches/req, $mg migrations/req"
        fi
        if awk -v f="$foreign" 'BEGIN { exit !(f > 5) }'; then
            if [ "$attempt" -lt "$MAX_REDO" ]; then
                attempt=$((attempt + 1))
                log "other processes took ${foreign}% of the CPUs during this run: discarded, redoing it (redo $attempt of $MAX_REDO)"
                echo "$line" >>"$REJECTED"
                continue
            fi
            log "WARNING: other processes took ${foreign}% of the CPUs during this run: results are suspect"
        fi
        echo "$line" >>"$RESULTS"
        return 0
    done
}

for round in $(seq "$ROUNDS"); do
    for target in "${TARGET_LIST[@]}"; do
        measure "$round" "$target"
    done
done

# lienthong's own count of answers by status, from its Prometheus metrics: everything must be 200,
# and each target's service must count at least as many 200s as wrk completed against it.
if want_gateway; then
    metrics=$(curl -s --max-time 5 "http://127.0.0.1:$LT_PORT/metrics") || die "cannot read /metrics"
    bad=$(awk '/^lienthong_requests_total\{/ && !/status="200"/ {s += $NF} END {print s + 0}' <<<"$metrics")
    log "lienthong /metrics: $bad answers with a status other than 200"
    [ "$bad" -le 1 ] || die "lienthong answered $bad requests with a status other than 200:
$(grep '^lienthong_requests_total{' <<<"$metrics" | grep -v 'status="200"')"
    # (the one allowed non-200 is the deliberate 401 check above)
    for target in lienthong verify enterprise; do
        want "$target" || continue
        case "$target" in lienthong) svc=fixed ;; verify) svc=population ;; enterprise) svc=enterprise ;; esac
        ok=$(awk -v svc="service=\"$svc\"" '/^lienthong_requests_total\{/ && index($0, svc) && /status="200"/ {s += $NF}
            END {print s + 0}' <<<"$metrics")
        sent=$(awk -F'\t' -v t="$target" '$2 == t {s += $6} END {print s + 0}' "$RESULTS")
        log "lienthong /metrics: service $svc ($target): $ok answers 200 (measured runs sent $sent)"
        [ "$ok" -ge "$sent" ] || die "lienthong counted $ok 200s for $svc, fewer than the $sent $target requests wrk completed"
    done
    # A retry means an upstream failed under load (and the answer came late): worth knowing.
    retries=$(awk '/^lienthong_upstream_retries_total\{/ {s += $NF} END {print s + 0}' <<<"$metrics")
    [ "$retries" = 0 ] || log "WARNING: lienthong retried $retries upstream calls during the runs"
fi

# ---- summary ------------------------------------------------------------------------------------
echo
echo "lienthong pass-through benchmark  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency, warm-up ${WARMUP}s, rounds $ROUNDS (median), pin $PIN"
want_gateway && echo "lienthong --worker-threads $WORKERS, config variant: $VARIANT"
summarize "$RESULTS"
if [ -s "$REJECTED" ]; then echo "$(wc -l <"$REJECTED") run(s) redone because the machine was busy (see rejected.tsv)"; fi
if [ -n "$OUT" ]; then echo "raw wrk outputs and logs: $OUT"; fi
exit 0

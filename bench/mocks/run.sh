#!/usr/bin/env bash
# Population lookup benchmark (hand-run; NOT a test): our population mock against the same stub on
# WireMock and on Prism, same load, same run. Loads, in turn and with the same wrk settings and the
# same Lua script (bench/mocks/lookup.lua):
#   ours      target/release/lienthong mocks --config bench/mocks/mocks-bench.toml --seed 42
#             http://127.0.0.1:18101/dancuquocgia  (checks the C06 signature, parses the SOAP body,
#             looks the citizen up, renders the reply, journals the request)
#   wiremock  WireMock standalone (npm `wiremock`, the bundled jar on the machine's java), its
#             default threading (flags -M)
#             http://127.0.0.1:18201/dancuquocgia  (stub bench/mocks/wiremock/mappings/lookup.json)
#   wiremock-tuned  the same jar and stub, tuned for 2 cores (flags -m), in the same run
#             http://127.0.0.1:18211/dancuquocgia
#             (ours/WireMock is computed against the better of the two)
#   prism     Prism mock (npm `@stoplight/prism-cli`), static example
#             http://127.0.0.1:18202/dancuquocgia  (document bench/mocks/prism/population.yaml)
# Optional labelled diagnostic target (not in the default list, not part of the comparison):
#   nginx     nginx answering the same bytes with `return 200` (no parsing at all): the ceiling of
#             this machine for this wrk load and reply size   http://127.0.0.1:18203/dancuquocgia
# All three answer the byte-identical reply body (bench/mocks/lookup-reply.xml, our mock's real
# reply, captured with --capture). Before the load each target must answer 200 with that body; the
# run fails loudly (exit 1) when wrk reports non-2xx/3xx responses or socket errors, or when a
# target's body is wrong before or after its run, or our mock journaled a non-200 answer.
#
# Before each measured run (warm-up + run) the script waits until the 1-minute load average is
# below -L or -Q seconds have passed, and records the load average and the CPU taken during the
# run by the target, by the two idle targets, and by every other process besides wrk (builds and
# other jobs: above ~5% of the machine the numbers are disturbed).
#
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit (trap).
# Needs: bench/mocks/setup.sh (wrk, node_modules with WireMock and Prism), java, cargo.
#
# Usage: bench/mocks/run.sh [options]
#   -c CONNS     wrk connections                        (default 32)
#   -d SECONDS   measured run length                    (default 15)
#   -W SECONDS   warm-up run just before each measured run (default 3)
#   -X SECONDS   one-time load of each target right after start-up, not measured, so that the JVM
#                (WireMock) and V8 (Prism) JIT-compile their hot paths before round 1 (default 20;
#                WireMock needs ~15 s of load to reach its steady rate on this machine)
#   -t THREADS   wrk threads                            (default 1)
#   -r ROUNDS    whole comparisons, one after the other (default 2)
#   -T LIST      targets, comma-separated subset of ours,wiremock,wiremock-tuned,prism,nginx
#                (default ours,wiremock,wiremock-tuned,prism, in that order; nginx is the
#                diagnostic ceiling above)
#   -L LOAD      wait for the 1-minute load average to be below LOAD (default 0.7), and for the
#                other processes to take less than -O % of the machine over 2 s
#   -Q SECONDS   ... but at most SECONDS before each measured run (default 600; 0 = do not wait)
#   -O PCT       a measured run during which the other processes took more than PCT % of the
#                machine is disturbed: it is redone after a new wait, up to -R times (default 10)
#   -R N         redo a disturbed run at most N times (default 2; the last attempt is reported)
#   -M ARGS      WireMock flags of target wiremock (default "--container-threads 25": the
#                WireMock 3 default, written out)
#   -m ARGS      WireMock flags of target wiremock-tuned (default "--container-threads 8"; see
#                docs/performance-mocks.md for the variants tried)
#   -P ARGS      extra Prism flags (default none: prism mock -p 18202 -h 127.0.0.1 population.yaml)
#   -C FILE      our mocks config (default bench/mocks/mocks-bench.toml)
#   -B FILE      lienthong binary to run instead of target/release/lienthong (implies -n)
#   -n           do not run `cargo build --release`
#   -o DIR       keep raw wrk outputs, logs and summary.md in DIR
#                (default bench/mocks/results/<date>-<time>, git-ignored)
#   --capture    only start our mock, save its reply to the request as bench/mocks/lookup-reply.xml
#                and regenerate the WireMock and Prism stubs from it (node gen-stubs.js), then exit
# Environment: JAVA_OPTS (extra JVM flags for WireMock, default none), WRK_TIMEOUT (default 10s).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

CONNS=32
DURATION=15
WARMUP=3
PREWARM=20
WRK_THREADS=1
ROUNDS=2
TARGETS="ours,wiremock,wiremock-tuned,prism"
LOAD_MAX=0.7
QUIET_WAIT=600
WM_TUNING="--container-threads 25"
WM_TUNED="--container-threads 8"
OTHER_MAX=10
REDO=2
PRISM_ARGS=""
CONFIG="$HERE/mocks-bench.toml"
BIN="$ROOT/target/release/lienthong"
BUILD=1
OUT=""
CAPTURE=0
WRK_TIMEOUT="${WRK_TIMEOUT:-10s}"
JAVA_OPTS="${JAVA_OPTS:-}"

OURS_PORT=18101
WM_PORT=18201
WM_TUNED_PORT=18211
PRISM_PORT=18202
NGINX_PORT=18203
USER_NAME="lienthong"
SECRET="demo-c06-secret"
API_KEY="demo-c06-apikey"
REQUEST="$HERE/lookup-request.xml"
REPLY="$HERE/lookup-reply.xml"
MARKER="SoDinhDanh>046090001234</"

die() { echo "run.sh: FAIL: $*" >&2; exit 1; }
log() { echo "run.sh: $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        -c) CONNS="$2"; shift 2 ;;
        -d) DURATION="$2"; shift 2 ;;
        -W) WARMUP="$2"; shift 2 ;;
        -X) PREWARM="$2"; shift 2 ;;
        -t) WRK_THREADS="$2"; shift 2 ;;
        -r) ROUNDS="$2"; shift 2 ;;
        -T) TARGETS="$2"; shift 2 ;;
        -L) LOAD_MAX="$2"; shift 2 ;;
        -Q) QUIET_WAIT="$2"; shift 2 ;;
        -M) WM_TUNING="$2"; shift 2 ;;
        -m) WM_TUNED="$2"; shift 2 ;;
        -O) OTHER_MAX="$2"; shift 2 ;;
        -R) REDO="$2"; shift 2 ;;
        -P) PRISM_ARGS="$2"; shift 2 ;;
        -C) CONFIG="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
        -B) BIN="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; BUILD=0; shift 2 ;;
        -n) BUILD=0; shift ;;
        -o) OUT="$2"; shift 2 ;;
        --capture) CAPTURE=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
IFS=',' read -r -a TARGET_LIST <<< "$TARGETS"
for t in "${TARGET_LIST[@]}"; do
    case "$t" in ours|wiremock|wiremock-tuned|prism|nginx) ;;
        *) die "unknown target $t (ours, wiremock, wiremock-tuned, prism, nginx)" ;; esac
done
[ "$CAPTURE" = 1 ] && TARGET_LIST=(ours)
has_target() { local t; for t in "${TARGET_LIST[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

# --- tools -------------------------------------------------------------------------------------
command -v wrk >/dev/null 2>&1 || die "wrk not found: run bench/mocks/setup.sh"
command -v curl >/dev/null 2>&1 || die "curl not found"
WM_JAR="$(compgen -G "$HERE/node_modules/wiremock/build/wiremock-standalone-*.jar" | head -1 || true)"
PRISM="$HERE/node_modules/.bin/prism"
if has_target wiremock || has_target wiremock-tuned; then
    [ -n "$WM_JAR" ] || die "WireMock jar not found under bench/mocks/node_modules: run bench/mocks/setup.sh"
    command -v java >/dev/null 2>&1 || die "java not found"
fi
if has_target prism; then
    [ -x "$PRISM" ] || die "prism not found under bench/mocks/node_modules: run bench/mocks/setup.sh"
fi
if has_target nginx; then
    command -v nginx >/dev/null 2>&1 || die "nginx not found (diagnostic target; bench/setup.sh installs it)"
fi

if [ -z "$OUT" ]; then OUT="$HERE/results/$(date +%Y%m%d-%H%M%S)"; fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
log "raw outputs and logs in $OUT"

if [ "$BUILD" = 1 ]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release) >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; die "cargo build --release failed (log: $OUT/build.log)"; }
fi
[ -x "$BIN" ] || die "$BIN not found (build it, or pass -B)"

# --- processes ---------------------------------------------------------------------------------
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

declare -A PID_OF PORT_OF
PORT_OF[ours]=$OURS_PORT
PORT_OF[wiremock]=$WM_PORT
PORT_OF[wiremock-tuned]=$WM_TUNED_PORT
PORT_OF[prism]=$PRISM_PORT
PORT_OF[nginx]=$NGINX_PORT
for t in "${TARGET_LIST[@]}"; do
    ! port_busy "${PORT_OF[$t]}" || die "port ${PORT_OF[$t]} ($t) is already in use on 127.0.0.1"
done

start_ours() {
    "$BIN" mocks --config "$CONFIG" --seed 42 >"$OUT/ours.log" 2>&1 &
    PID_OF[ours]=$!; PIDS+=("$!")
}
wiremock_on() { # target port flags
    # shellcheck disable=SC2086 # JAVA_OPTS and the flags are flag lists
    java $JAVA_OPTS -jar "$WM_JAR" --port "$2" --bind-address 127.0.0.1 \
        --root-dir "$HERE/wiremock" --no-request-journal --disable-banner $3 \
        >"$OUT/$1.log" 2>&1 &
    PID_OF[$1]=$!; PIDS+=("$!")
}
start_wiremock() { wiremock_on wiremock "$WM_PORT" "$WM_TUNING"; }
start_wiremock-tuned() { wiremock_on wiremock-tuned "$WM_TUNED_PORT" "$WM_TUNED"; }
start_prism() {
    # shellcheck disable=SC2086 # PRISM_ARGS is a flag list
    (cd "$HERE/prism" && exec "$PRISM" mock -p "$PRISM_PORT" -h 127.0.0.1 $PRISM_ARGS population.yaml) \
        >"$OUT/prism.log" 2>&1 &
    PID_OF[prism]=$!; PIDS+=("$!")
}
start_nginx() {
    # The reply inlined in a single-quoted nginx string (it holds no single quote: checked).
    ! grep -q "'" "$REPLY" || die "lookup-reply.xml holds a single quote: cannot inline it for nginx"
    mkdir -p "$OUT/nginx/logs"
    cat >"$OUT/nginx/nginx.conf" <<CONF
worker_processes 1;
master_process off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/logs/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /dancuquocgia {
            default_type "text/xml; charset=utf-8";
            return 200 '$(cat "$REPLY")';
        }
    }
}
CONF
    nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/logs/error.log" >"$OUT/nginx.log" 2>&1 &
    PID_OF[nginx]=$!; PIDS+=("$!")
}

# --- the signed request ------------------------------------------------------------------------
# Sets TS and AUTH for http://127.0.0.1:PORT/dancuquocgia (the signed url is http://{Host}{path};
# wrk and curl send Host: 127.0.0.1:PORT).
sign() {
    TS="$(date +%s%3N)"
    local sig
    sig="$(printf '%s' "http://127.0.0.1:$1/dancuquocgia${USER_NAME}${TS}${SECRET}" | sha256sum | cut -d' ' -f1)"
    AUTH="Basic $(printf '%s' "${USER_NAME}:${sig}" | base64 -w0)"
}

# One signed request with curl; writes the body to $2 and prints "status content-type".
ask() {
    sign "$1"
    curl -sS --max-time 10 -o "$2" -w '%{http_code} %{content_type}' -X POST \
        -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: ""' -H "ApiKey: $API_KEY" \
        -H "Timestamp: $TS" -H "Authorization: $AUTH" --data-binary "@$REQUEST" \
        "http://127.0.0.1:$1/dancuquocgia" 2>/dev/null || echo "000 -"
}

# Checks that target $1 answers 200 with the reference body; $2 says when (for messages).
check_reply() {
    local t="$1" when="$2" got body="$OUT/check-$1.xml"
    got="$(ask "${PORT_OF[$t]}" "$body")"
    [ "${got%% *}" = 200 ] || { echo "$t $when: HTTP ${got%% *} (body: $(head -c 300 "$body" 2>/dev/null))"; return 1; }
    case "${got#* }" in
        "text/xml; charset=utf-8"|"text/xml;charset=utf-8"|"text/xml; charset=UTF-8") ;;
        *) echo "$t $when: Content-Type ${got#* }"; return 1 ;;
    esac
    grep -q "$MARKER" "$body" || { echo "$t $when: no $MARKER in the body"; return 1; }
    cmp -s "$body" "$REPLY" || { echo "$t $when: body differs from $REPLY (stale stubs? run.sh --capture)"; return 1; }
    return 0
}

wait_up() {
    local t="$1" deadline=$((SECONDS + 90)) why
    while :; do
        kill -0 "${PID_OF[$t]}" 2>/dev/null || { tail -20 "$OUT/$t.log" >&2; die "$t exited during start-up (log $OUT/$t.log)"; }
        if port_busy "${PORT_OF[$t]}"; then
            if why="$(check_reply "$t" "at start")"; then return 0; fi
        fi
        [ $SECONDS -lt $deadline ] || { tail -20 "$OUT/$t.log" >&2; die "$t not ready in 90 s: ${why:-port ${PORT_OF[$t]} closed}"; }
        sleep 0.5
    done
}

# --- capture mode ------------------------------------------------------------------------------
if [ "$CAPTURE" = 1 ]; then
    start_ours
    deadline=$((SECONDS + 60))
    until port_busy "$OURS_PORT"; do
        [ $SECONDS -lt $deadline ] || die "our mock did not open port $OURS_PORT"
        sleep 0.2
    done
    got="$(ask "$OURS_PORT" "$OUT/captured.xml")"
    [ "${got%% *}" = 200 ] || die "our mock answered ${got}: $(head -c 400 "$OUT/captured.xml")"
    grep -q "$MARKER" "$OUT/captured.xml" || die "the captured reply has no $MARKER"
    cp "$OUT/captured.xml" "$REPLY"
    node "$HERE/gen-stubs.js"
    log "captured $(wc -c <"$REPLY") bytes into $REPLY and regenerated the stubs"
    exit 0
fi

# --- measurement helpers -----------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# busy and total jiffies of the machine, from /proc/stat
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
# user+system jiffies of a process and all its threads
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# the same, summed over the started targets other than $1 (idle during $1's run)
targets_ticks() {
    local t n=0
    for t in "${TARGET_LIST[@]}"; do [ "$t" = "$1" ] || n=$((n + $(proc_ticks "${PID_OF[$t]}"))); done
    echo "$n"
}
# user+system seconds of this shell's reaped children (bash `times`, second line), into $1.
# `times` must run in this shell, not in a $(...) subshell, to see wrk.
child_secs() {
    { times; } >"$OUT/.times"
    printf -v "$1" '%s' "$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }' "$OUT/.times")"
}
HZ="$(getconf CLK_TCK)"

# Share of the machine (%) taken over 2 s by processes other than the started targets.
others_now() {
    local b0 t0 b1 t1 i0 i1
    read -r b0 t0 < <(cpu_ticks); i0="$(targets_ticks none)"
    sleep 2
    read -r b1 t1 < <(cpu_ticks); i1="$(targets_ticks none)"
    awk -v b=$((b1 - b0 - (i1 - i0))) -v T=$((t1 - t0)) 'BEGIN { if (b < 0) b = 0; printf "%.0f", (T > 0 ? 100 * b / T : 0) }'
}

# Waits for a quiet machine: load1 < LOAD_MAX and the other processes under OTHER_MAX % over 2 s,
# at most QUIET_WAIT s. Sets WAIT_S (seconds waited) and WAIT_HOW (ok or timeout). No subshell,
# so that Ctrl-C and TERM stop the script within seconds.
wait_quiet() {
    local start=$SECONDS next=30 o
    WAIT_HOW=timeout
    while [ $((SECONDS - start)) -lt "$QUIET_WAIT" ]; do
        if below "$(load1)" "$LOAD_MAX"; then
            o="$(others_now)"
            if [ "$o" -lt "$OTHER_MAX" ]; then WAIT_HOW=ok; break; fi
        fi
        if [ $((SECONDS - start)) -ge $next ]; then
            log "  waiting for load1 < $LOAD_MAX and others < $OTHER_MAX %: load1 $(load1) after $((SECONDS - start)) s"
            next=$((next + 30))
        fi
        sleep 3
    done
    WAIT_S=$((SECONDS - start))
}

# wrk latency value ("1.49ms", "812.00us", "1.06s") in ms
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.2f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
        else printf "?" }'
}

run_wrk() { # port seconds outfile
    sign "$1"
    LOOKUP_BODY_FILE="$REQUEST" LOOKUP_TIMESTAMP="$TS" LOOKUP_AUTH="$AUTH" LOOKUP_APIKEY="$API_KEY" \
        wrk -t"$WRK_THREADS" -c"$CONNS" -d"${2}s" --timeout "$WRK_TIMEOUT" --latency \
        -s "$HERE/lookup.lua" "http://127.0.0.1:$1/dancuquocgia" >"$3" 2>&1
}

# --- start ---------------------------------------------------------------------------------------
for t in "${TARGET_LIST[@]}"; do "start_$t"; done
for t in "${TARGET_LIST[@]}"; do wait_up "$t"; log "$t up on 127.0.0.1:${PORT_OF[$t]}, reply checked"; done

if [ "$PREWARM" -gt 0 ]; then
    for t in "${TARGET_LIST[@]}"; do
        log "$t: one-time JIT warm-up, ${PREWARM} s of the same load (not measured)"
        run_wrk "${PORT_OF[$t]}" "$PREWARM" "$OUT/prewarm-$t.txt" || true
        log "$t: warm-up rate $(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$OUT/prewarm-$t.txt") req/s"
    done
fi

declare -A LABEL
LABEL[ours]="our mock"
LABEL[wiremock]="WireMock ($WM_TUNING)"
LABEL[wiremock-tuned]="WireMock tuned ($WM_TUNED)"
LABEL[prism]="Prism"
LABEL[nginx]="nginx \`return 200\` (diagnostic ceiling)"
FAILED=()
SUMMARY="$OUT/summary.md"
{
    echo "# bench/mocks/run.sh, $(date)"
    echo
    echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --timeout $WRK_TIMEOUT --latency -s lookup.lua, after a ${WARMUP} s warm-up;  "
    echo "one-time warm-up of ${PREWARM} s per target after start-up; before each run: load1 < $LOAD_MAX and others < $OTHER_MAX % (at most $QUIET_WAIT s); a run with others > $OTHER_MAX % is redone up to $REDO times;  "
    echo "WireMock: --no-request-journal --disable-banner plus the flags in its row; JAVA_OPTS: ${JAVA_OPTS:-none};  "
    echo "Prism flags: ${PRISM_ARGS:-none}; our mocks config: ${CONFIG#"$ROOT/"}; binary: $BIN"
} >"$SUMMARY"

# One measured run of target $1 in round $2, attempt $3: sets the R_* variables; returns 1 when it
# failed (the reason in R_PROBLEM).
measure() {
    local t="$1" round="$2" attempt="$3" port="${PORT_OF[$1]}" f busy0 total0 busy1 total1 srv0 srv1 idle0 idle1 kid0 kid1 wrk_rc all ok why
    f="$OUT/r$round-$t-a$attempt.txt"
    [ "$t" = ours ] && curl -sS -X DELETE "http://127.0.0.1:$port/__admin/journal" >/dev/null
    if [ "$WARMUP" -gt 0 ]; then
        run_wrk "$port" "$WARMUP" "$OUT/r$round-$t-a$attempt-warmup.txt" || true
    fi
    R_LOAD="$(load1)"
    read -r busy0 total0 < <(cpu_ticks)
    srv0="$(proc_ticks "${PID_OF[$t]}")"
    idle0="$(targets_ticks "$t")"
    child_secs kid0
    log "round $round, $t, attempt $attempt: wrk ${DURATION}s (load1 $R_LOAD)"
    wrk_rc=0
    run_wrk "$port" "$DURATION" "$f" || wrk_rc=$?
    read -r busy1 total1 < <(cpu_ticks)
    srv1="$(proc_ticks "${PID_OF[$t]}")"
    idle1="$(targets_ticks "$t")"
    child_secs kid1
    R_OTHER="$(awk -v b=$((busy1 - busy0)) -v T=$((total1 - total0)) -v s=$((srv1 - srv0)) \
        -v i=$((idle1 - idle0)) -v k0="$kid0" -v k1="$kid1" -v hz="$HZ" \
        'BEGIN { o = b - s - i - (k1 - k0) * hz; if (o < 0) o = 0; printf "%.0f", (T > 0 ? 100 * o / T : 0) }')"
    R_IDLE="$(awk -v i=$((idle1 - idle0)) -v T=$((total1 - total0)) 'BEGIN { printf "%.0f", (T > 0 ? 100 * i / T : 0) }')"
    R_WRK="$(awk -v k0="$kid0" -v k1="$kid1" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * (k1 - k0) / d }')"
    R_SRV="$(awk -v s=$((srv1 - srv0)) -v T=$((total1 - total0)) 'BEGIN { printf "%.0f", (T > 0 ? 200 * s / T : 0) }')"
    R_FILE="$f"
    R_PROBLEM=""
    [ "$wrk_rc" = 0 ] || R_PROBLEM="wrk exited $wrk_rc"
    if grep -q 'Non-2xx or 3xx responses' "$f"; then R_PROBLEM="$R_PROBLEM; $(grep 'Non-2xx' "$f" | xargs)"; fi
    if grep -q 'Socket errors' "$f"; then R_PROBLEM="$R_PROBLEM; $(grep 'Socket errors' "$f" | xargs)"; fi
    if ! why="$(check_reply "$t" "after round $round")"; then R_PROBLEM="$R_PROBLEM; $why"; fi
    if [ "$t" = ours ]; then
        all="$(curl -sS "http://127.0.0.1:$port/__admin/journal/count" | tr -dc '0-9')"
        ok="$(curl -sS "http://127.0.0.1:$port/__admin/journal/count?status=200" | tr -dc '0-9')"
        if [ -z "$all" ] || [ "$all" != "$ok" ]; then
            R_PROBLEM="$R_PROBLEM; our journal holds $(( ${all:-0} - ${ok:-0} )) non-200 answers of its last ${all:-?}"
        fi
    fi
    R_RPS="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")"
    R_P50="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")"
    R_P99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")"
    [ -n "$R_RPS" ] || R_PROBLEM="$R_PROBLEM; no Requests/sec in the wrk output"
    R_PROBLEM="${R_PROBLEM#; }"
    [ -z "$R_PROBLEM" ]
}

for round in $(seq 1 "$ROUNDS"); do
    declare -A ROW=() RPS=()
    for t in "${TARGET_LIST[@]}"; do
        attempt=0
        while :; do
            attempt=$((attempt + 1))
            log "round $round, $t: waiting for a quiet machine (load1 < $LOAD_MAX, others < $OTHER_MAX %, at most $QUIET_WAIT s); load1 now $(load1)"
            wait_quiet
            if measure "$t" "$round" "$attempt"; then
                RPS[$t]="$R_RPS"; shown="$R_RPS"
            else
                echo "run.sh: FAIL: round $round, $t: $R_PROBLEM (wrk output: $R_FILE)" >&2
                FAILED+=("round $round $t: $R_PROBLEM")
                RPS[$t]="FAILED"; shown="FAILED"
            fi
            log "round $round, $t: $shown req/s, p50 $R_P50 ms, p99 $R_P99 ms, target CPU $R_SRV% of a core, wrk $R_WRK%, idle targets $R_IDLE%, others $R_OTHER% of the machine"
            if [ "$shown" != FAILED ] && [ "$R_OTHER" -gt "$OTHER_MAX" ] && [ "$attempt" -le "$REDO" ]; then
                log "round $round, $t: disturbed (others $R_OTHER% > $OTHER_MAX%): redoing"
                continue
            fi
            break
        done
        ROW[$t]="| ${LABEL[$t]} | $shown | $R_P50 | $R_P99 | $R_LOAD | $WAIT_S s ($WAIT_HOW) | $attempt | $R_SRV | $R_WRK | $R_IDLE | $R_OTHER |"
    done
    ratio() { # ratio of our rps to the best rps among the targets given
        local best="" t
        [[ "${RPS[ours]:-}" =~ ^[0-9]+$ ]] || { echo "-"; return; }
        for t in "$@"; do
            if [[ "${RPS[$t]:-}" =~ ^[0-9]+$ ]] && { [ -z "$best" ] || [ "${RPS[$t]}" -gt "$best" ]; }; then best="${RPS[$t]}"; fi
        done
        [ -n "$best" ] || { echo "-"; return; }
        awk -v a="${RPS[ours]}" -v b="$best" 'BEGIN { printf "%.2f×", a / b }'
    }
    {
        echo
        echo "## Round $round of $ROUNDS"
        echo
        echo "| target | req/s | p50 ms | p99 ms | load1 at start | waited for quiet | attempt | target CPU, % of 1 core | wrk CPU, % of 1 core | idle targets' CPU, % of machine | others' CPU, % of machine |"
        echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
        for t in "${TARGET_LIST[@]}"; do echo "${ROW[$t]}"; done
        echo
        if has_target ours && { has_target wiremock || has_target wiremock-tuned; }; then
            echo "ours / WireMock (the better of its rows): $(ratio wiremock wiremock-tuned)  "
        fi
        if has_target ours && has_target prism; then echo "ours / Prism: $(ratio prism)  "; fi
        if has_target ours && has_target nginx; then echo "ours / nginx ceiling (diagnostic): $(ratio nginx)"; fi
    } >>"$SUMMARY"
    unset ROW RPS
done

cat "$SUMMARY"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo >&2
    for f in "${FAILED[@]}"; do echo "run.sh: FAIL: $f" >&2; done
    exit 1
fi

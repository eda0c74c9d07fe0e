#!/usr/bin/env bash
# The API contract under Schemathesis (hand-run; tests/contract.rs is the in-repo check): starts
# `lienthong serve --demo`, runs Schemathesis over the OpenAPI document with every check, positive
# and negative data and all four phases (examples, coverage, fuzzing, stateful where links join
# operations), then stops it.
#   - the public surface with the demo portal's API key, the operators' surface (/v1/admin,
#     /metrics) with the demo admin's;
#   - bench/contract_hooks.py teaches the generator what the document states in words but JSON
#     Schema cannot compute (check digits, rules across fields, the deployment's own values) and
#     signs what the demo bank sends; bench/schemathesis.toml keeps the stateful phase to the
#     document's own links.
# The document is the served one (GET /openapi.json) unless -D names a file. Exit status: 0 when
# Schemathesis reports no failure. docs/api-contract.md says what it found and how it is read.
#
# Needs python3 (a venv with Schemathesis is made in $VENV, default ~/.cache/lienthong/schemathesis).
# Usage: bench/contract.sh [-B BINARY] [-D DOCUMENT] [-n MAX_EXAMPLES] [-s SEED]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/lienthong"
DOCUMENT=""
EXAMPLES=20
SEED=1
VENV="${VENV:-$HOME/.cache/lienthong/schemathesis}"
while getopts "B:D:n:s:" opt; do
    case "$opt" in
        B) BIN=$(realpath "$OPTARG") ;;
        D) DOCUMENT=$(realpath "$OPTARG") ;;
        n) EXAMPLES=$OPTARG ;;
        s) SEED=$OPTARG ;;
        *) echo "usage: $0 [-B BINARY] [-D DOCUMENT] [-n MAX_EXAMPLES] [-s SEED]" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --bin lienthong)
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'schemathesis>=4.3,<5'
fi

OUT=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

# Free ports: the demo's own, the operators' surface on the next one (taken meanwhile by
# another process now and then: tried three times).
for attempt in 1 2 3; do
    "$BIN" serve --demo --port 0 --mocks-port-base 0 > "$OUT/demo.out" 2> "$OUT/demo.err" &
    PID=$!
    for _ in $(seq 1 100); do
        grep -q '^Mock upstreams' "$OUT/demo.out" 2>/dev/null && break 2
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    wait "$PID" 2>/dev/null || true
    PID=""
    [ "$attempt" = 3 ] && { cat "$OUT/demo.err" >&2; exit 1; }
done
PUBLIC=$(grep -m1 '^lienthong demo gateway on' "$OUT/demo.out" | grep -o 'http://[^ ]*')
ADMIN=$(grep -m1 "operators' surface" "$OUT/demo.out" | grep -o 'http://[^ ]*')
if [ -z "$DOCUMENT" ]; then
    DOCUMENT="$OUT/openapi.json"
    curl -sf "$PUBLIC/openapi.json" -o "$DOCUMENT"
fi

# Below the demo portal's own limit (6,000 a minute, bursts of 200), per second so that no burst
# reaches it: a 429 tells nothing about the contract.
RATE=${RATE:-80/s}
export SCHEMATHESIS_HOOKS=contract_hooks PYTHONPATH="$ROOT/bench"
run() {
    local name=$1 url=$2 key=$3 scope=$4 phases=$5
    echo "== $name: $url"
    # Run from the scratch directory: Schemathesis keeps its cache in the working directory.
    (cd "$OUT" && "$VENV/bin/schemathesis" --config-file "$ROOT/bench/schemathesis.toml" run "$DOCUMENT" \
        --url "$url" --checks all --mode all --phases "$phases" \
        -n "$EXAMPLES" --seed "$SEED" --workers 1 --request-timeout 10 --no-color \
        --rate-limit "$RATE" \
        --suppress-health-check all "$scope" '^/(v1/admin|metrics)' \
        -H "Authorization: Bearer $key") | tee "$OUT/$name.txt" | sed -n '/^=* \(FAILURES\|SUMMARY\) =*$/,$p'
}
status=0
run public "$PUBLIC" demo-portal-key --exclude-path-regex examples,coverage,fuzzing,stateful || status=1
# No link joins the operators' operations: no stateful phase there.
run operators "$ADMIN" demo-admin-key --include-path-regex examples,coverage,fuzzing || status=1
exit $status

#!/usr/bin/env bash
# Installs what bench/mocks/run.sh needs, if missing. Idempotent.
#   - wrk (Debian package), with apt-get update first when something has to be installed;
#   - WireMock standalone (npm package `wiremock`, which bundles wiremock-standalone-<v>.jar; run
#     with the machine's `java`, Java 17) and Prism (`@stoplight/prism-cli`), both LOCAL to
#     bench/mocks/node_modules (npm ci from package-lock.json; never global);
#   - checks that java (>= 11) and node are on PATH (not installed here: the machine has them).
# Needs root (or sudo) only for apt-get.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "setup.sh: FAIL: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# --- wrk ---------------------------------------------------------------------------------------
if command -v wrk >/dev/null 2>&1; then
    echo "setup: wrk present: $(wrk -v 2>&1 | head -1)"
else
    echo "setup: installing wrk (apt)"
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends wrk
fi

# --- java, node --------------------------------------------------------------------------------
command -v java >/dev/null 2>&1 || die "java not on PATH (WireMock needs Java 11+; the machine has OpenJDK 17)"
command -v node >/dev/null 2>&1 || die "node not on PATH"
command -v npm >/dev/null 2>&1 || die "npm not on PATH"
echo "setup: java: $(java -version 2>&1 | head -1)"
echo "setup: node: $(node -v)"

# --- npm packages, local -----------------------------------------------------------------------
# @stoplight/prism-cli is pinned to 5.14.2: 5.15.x and later require node >= 24, the machine has 20.
jar_glob() { compgen -G "$HERE/node_modules/wiremock/build/wiremock-standalone-*.jar" | head -1 || true; }
if [ -n "$(jar_glob)" ] && [ -x "$HERE/node_modules/.bin/prism" ]; then
    echo "setup: node_modules present"
else
    echo "setup: npm install into $HERE/node_modules"
    if [ -f "$HERE/package-lock.json" ]; then
        (cd "$HERE" && npm ci --no-audit --no-fund)
    else
        (cd "$HERE" && npm install --no-audit --no-fund)
    fi
fi
JAR="$(jar_glob)"
[ -n "$JAR" ] || die "no wiremock-standalone-*.jar under node_modules/wiremock/build"
echo "setup: WireMock jar: ${JAR#"$HERE/"}"
echo "setup: Prism: $("$HERE/node_modules/.bin/prism" --version)"
echo "setup: done"

#!/usr/bin/env bash
# Installs what bench/passthrough.sh needs, if missing: nginx (nginx-light or nginx) and wrk.
# Idempotent: does nothing when both are already on PATH. Needs root (or sudo) to install.
set -euo pipefail

need=()
if command -v nginx >/dev/null 2>&1; then
    echo "setup: nginx present: $(nginx -v 2>&1)"
else
    need+=(nginx)
fi
if command -v wrk >/dev/null 2>&1; then
    echo "setup: wrk present: $(wrk -v 2>&1 | head -1)"
else
    need+=(wrk)
fi
if [ ${#need[@]} -eq 0 ]; then
    echo "setup: nothing to install"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

echo "setup: missing: ${need[*]}; running apt-get update"
$SUDO apt-get update -q

pkgs=()
for n in "${need[@]}"; do
    case "$n" in
        nginx)
            # nginx-light is the smallest build that has proxy/upstream/keepalive; fall back to nginx.
            if apt-cache show nginx-light >/dev/null 2>&1; then pkgs+=(nginx-light); else pkgs+=(nginx); fi ;;
        wrk) pkgs+=(wrk) ;;
    esac
done
echo "setup: apt-get install -y --no-install-recommends ${pkgs[*]}"
$SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"

# The package starts a system nginx on port 80 under systemd/sysv; the benchmark does not use it.
# It is left alone (the benchmark runs its own nginx instances in a temp prefix on 127.0.0.1).
echo "setup: nginx: $(nginx -v 2>&1)"
echo "setup: wrk: $(wrk -v 2>&1 | head -1)"
echo "setup: done"

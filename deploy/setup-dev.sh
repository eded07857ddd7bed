#!/usr/bin/env bash
# Prepare a checkout for the demo or the tests: system packages, a venv in .venv, voiced installed
# editable with the extras given as arguments (e.g. "test,export,mic"). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-models-dev}"

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
[ -e /usr/include/portaudio.h ] || need+=(portaudio19-dev)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
for pkg in ${VOICED_EXTRA_APT:-}; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing system packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
log=$(mktemp)
# pip is chatty on stderr even when all is well: show its output only when it fails.
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[${extras}]"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup failed: pip could not install voiced[${extras}]" >&2
    exit 1
fi
rm -f "$log"

# rhasspy-hermes pins paho-mqtt 1.5 (voiced needs 2), so the tests read Hermes messages with it
# from a venv of its own; without it they make it themselves, or skip when it cannot be had.
if [[ ",${extras}," == *",test,"* ]]; then
    [ -x .venv-hermes/bin/python ] || python3 -m venv .venv-hermes
    if ! .venv-hermes/bin/python -m pip install -q "rhasspy-hermes==0.6.2" >"$log" 2>&1; then
        echo "note: rhasspy-hermes could not be installed into .venv-hermes; the Hermes tests will say why" >&2
    fi
    rm -f "$log"
fi

#!/usr/bin/env bash
# arm64 smoke run: a Debian bookworm arm64 root under qemu user-mode emulation, the aarch64
# wheels installed into a folder, and tests/smoke run in-process by an arm64 python3.11.
# Emulated timings say nothing about a real board; this only proves the code runs on arm64.
# Needs root for apt-get (skipped when the tools are already there). Nothing is registered
# host-wide: no binfmt, no chroot, no second debootstrap stage.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VOICED_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voiced-ci}"
ROOT="$CACHE/arm64-root"
SITE="$CACHE/arm64-site"
PYTHON="${PYTHON:-python3}"
# Same floors as pyproject.toml; pytest and its plugins are pure Python.
WHEELS=(onnxruntime numpy tokenizers rapidfuzz pyyaml paho-mqtt pytest pytest-timeout)

log() { echo "arm64 smoke: $*" >&2; }

need_tools() {
    command -v qemu-aarch64-static >/dev/null && command -v debootstrap >/dev/null && return
    log "installing qemu-user-static and debootstrap"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static debootstrap >/dev/null
}

# The Debian mirror this machine's apt already uses (debootstrap's default when none is found).
apt_mirror() {
    { awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null
      awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null; } | head -1
}

make_root() {
    if [ -x "$ROOT/usr/bin/python3.11" ]; then
        log "reusing $ROOT"
    else
        log "debootstrapping a minimal bookworm arm64 root into $ROOT"
        rm -rf "$ROOT"; mkdir -p "$ROOT"
        # --foreign only downloads and unpacks the essential set; the Python packages are
        # unpacked below with dpkg-deb -x, so no second stage (and no chroot) is needed.
        debootstrap --arch=arm64 --foreign --variant=minbase --include=python3 bookworm "$ROOT" \
            $(apt_mirror) >"$CACHE/debootstrap.log" 2>&1 \
            || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
        for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
        [ -x "$ROOT/usr/bin/python3.11" ] || { log "python3.11 missing from $ROOT"; exit 1; }
    fi
    # onnxruntime reads /proc/cpuinfo at import and crashes on the x86 host's; qemu -L maps
    # /proc/cpuinfo to ROOT/proc/cpuinfo, so give it a real Pi 4 (Cortex-A72) capture.
    mkdir -p "$ROOT/proc"
    cp "$REPO/tests/fixtures/boards/pi4/proc/cpuinfo" "$ROOT/proc/cpuinfo"
}

install_wheels() {
    local stamp="$SITE/.installed" want
    want="$(printf '%s\n' "${WHEELS[@]}")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "reusing $SITE"; return
    fi
    log "installing cp311 aarch64 wheels into $SITE"
    rm -rf "$SITE"; mkdir -p "$SITE"
    # manylinux_2_28 must be offered: with manylinux2014 alone pip silently picks
    # onnxruntime 1.16 and an older numpy.
    "$PYTHON" -m pip install -q --disable-pip-version-check --target "$SITE" --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 \
        --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 --platform any \
        "${WHEELS[@]}"
    echo "$want" >"$stamp"
}

run_tests() {
    log "running tests/smoke under qemu-aarch64 (cortex-a72)"
    cd "$REPO"
    local out rc=0
    out="$(mktemp)"
    PYTHONPATH="$SITE:$REPO" PYTHONDONTWRITEBYTECODE=1 QEMU_CPU=cortex-a72 \
        qemu-aarch64-static -L "$ROOT" "$ROOT/usr/bin/python3.11" -m pytest tests/smoke \
        -p no:cacheprovider -q -o addopts="" --timeout=600 2>&1 | tee "$out" || rc=$?
    local summary
    summary="$(grep -E '[0-9]+ (passed|failed|error)' "$out" | tail -1 || true)"
    rm -f "$out"
    echo "arm64 smoke: ${summary:-no result} (emulated; timings are not Pi numbers)"
    return "$rc"
}

mkdir -p "$CACHE"
need_tools
make_root
install_wheels
run_tests

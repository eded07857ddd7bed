#!/usr/bin/env bash
# Install voiced as a systemd service on Raspberry Pi OS / Debian (64-bit).
#
#   sudo bash deploy/install.sh [--with-mosquitto] [--models DIR] [--skip-models]
#
# Safe to run again: existing files in /etc/voiced are never overwritten, the venv and the
# user are reused, and an updated checkout is reinstalled into the venv.
#
# Options:
#   --root DIR        install into DIR instead of / (packaging and tests; implies nothing else)
#   --skip-system     do not run apt-get, useradd, chown or systemctl (for --root installs)
#   --with-mosquitto  also install and enable the mosquitto broker on this machine
#   --models DIR      copy this local model directory instead of downloading one (the service
#                     uses it when it is the only model in the cache)
#   --skip-models     do not fetch a model (run `voiced models pull` later)
# Environment:
#   PYTHON            interpreter for the venv (default python3)
#   VOICED_PACKAGE    what pip installs (default: this checkout)
#   VOICED_PIP_ARGS   extra pip arguments, e.g. "--no-index --find-links DIR" offline
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${VOICED_ROOT:-}"
SKIP_SYSTEM=0
WITH_MOSQUITTO=0
MODELS_FROM=""
SKIP_MODELS=0
PYTHON="${PYTHON:-python3}"

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="${2:?--root needs a directory}"; shift ;;
        --skip-system) SKIP_SYSTEM=1 ;;
        --with-mosquitto) WITH_MOSQUITTO=1 ;;
        --models) MODELS_FROM="${2:?--models needs a directory}"; shift ;;
        --skip-models) SKIP_MODELS=1 ;;
        -h|--help) sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
ROOT="${ROOT%/}"

OPT="$ROOT/opt/voiced"
VENV="$OPT/venv"
ETC="$ROOT/etc/voiced"
UNIT_DIR="$ROOT/etc/systemd/system"
CACHE="$ROOT/var/cache/voiced"
STATE="$ROOT/var/lib/voiced"

say() { echo "voiced install: $*"; }

if [ "$SKIP_SYSTEM" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or use --root DIR --skip-system" >&2
    exit 1
fi

# 1. System packages: PortAudio headers for PyAudio, venv support, and optionally a broker.
if [ "$SKIP_SYSTEM" = 0 ]; then
    packages=(python3-venv python3-dev portaudio19-dev)
    [ "$WITH_MOSQUITTO" = 1 ] && packages+=(mosquitto mosquitto-clients)
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
fi

# 2. The service user, in the audio group so it can open the microphone.
if [ "$SKIP_SYSTEM" = 0 ]; then
    if ! id voiced >/dev/null 2>&1; then
        say "creating user voiced"
        useradd --system --home-dir /var/lib/voiced --no-create-home --shell /usr/sbin/nologin \
            --groups audio voiced
    else
        usermod -a -G audio voiced
    fi
fi

# 3. The program, in its own venv.
mkdir -p "$OPT"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating venv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
say "installing voiced into $VENV"
# shellcheck disable=SC2086  # VOICED_PIP_ARGS is a list of arguments on purpose
"$VENV/bin/python" -m pip install -q ${VOICED_PIP_ARGS:-} "${VOICED_PACKAGE:-$SRC}[mic]"
install -m 0644 "$SRC/README.md" "$OPT/README.md"
# The shipped command set, example config, demo and eval files, beside the venv: a wheel install
# has no checkout, and `voiced match` / `check-config` fall back to these.
rm -rf "$OPT/config"
cp -r "$SRC/config" "$OPT/config"
# `voiced` on PATH, for the commands the README gives (check-config, tune, models pull).
BIN="$ROOT/usr/local/bin"
mkdir -p "$BIN"
ln -sfn "$VENV/bin/voiced" "$BIN/voiced"

# 4. Configuration: the example config and command set, never overwriting the user's edits.
mkdir -p "$ETC"
for name in voiced.yaml commands.yaml; do
    if [ -e "$SRC/config/$name" ] && [ ! -e "$ETC/$name" ]; then
        say "adding $ETC/$name"
        install -m 0640 "$SRC/config/$name" "$ETC/$name"
    fi
done
if [ "$SKIP_SYSTEM" = 0 ]; then
    chown root:voiced "$ETC" "$ETC"/*
    chmod 0750 "$ETC"
fi

# 5. The model, into the cache the service reads ($CACHE_DIRECTORY/models).
mkdir -p "$CACHE/models" "$STATE"
if [ -n "$MODELS_FROM" ]; then
    target="$CACHE/models/$(basename "$MODELS_FROM")"
    if [ ! -e "$target" ]; then
        say "copying model $MODELS_FROM"
        cp -r "$MODELS_FROM" "$target"
    fi
elif [ "$SKIP_MODELS" = 0 ]; then
    say "fetching the default model"
    VOICED_CACHE_DIR="$CACHE" "$VENV/bin/voiced" models pull
fi
if [ "$SKIP_SYSTEM" = 0 ]; then
    chown -R voiced:voiced "$CACHE" "$STATE"
fi

# 6. The unit: enable and (re)start.
mkdir -p "$UNIT_DIR"
install -m 0644 "$SRC/systemd/voiced.service" "$UNIT_DIR/voiced.service"
if [ "$SKIP_SYSTEM" = 0 ]; then
    systemctl daemon-reload
    [ "$WITH_MOSQUITTO" = 1 ] && systemctl enable --now mosquitto
    systemctl enable voiced
    systemctl restart voiced
    say "running; follow it with: journalctl -u voiced -f"
else
    say "installed into ${ROOT:-/} (system steps skipped)"
fi

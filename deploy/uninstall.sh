#!/usr/bin/env bash
# Remove voiced installed by deploy/install.sh.
#
#   sudo bash deploy/uninstall.sh [--purge]
#
# Keeps /etc/voiced (your config and commands) and /var/lib/voiced (debug recordings) unless
# --purge is given; --purge also removes the voiced user.
#
# Options:
#   --root DIR      uninstall from DIR instead of /
#   --skip-system   do not run systemctl or userdel
#   --purge         also remove configuration, state and the user
set -euo pipefail

ROOT="${VOICED_ROOT:-}"
SKIP_SYSTEM=0
PURGE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="${2:?--root needs a directory}"; shift ;;
        --skip-system) SKIP_SYSTEM=1 ;;
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
ROOT="${ROOT%/}"

say() { echo "voiced uninstall: $*"; }

if [ "$SKIP_SYSTEM" = 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "uninstall.sh: run as root (sudo), or use --root DIR --skip-system" >&2
        exit 1
    fi
    systemctl disable --now voiced 2>/dev/null || true
fi
rm -f "$ROOT/etc/systemd/system/voiced.service"
[ "$SKIP_SYSTEM" = 0 ] && systemctl daemon-reload
# Only our own link: a voiced installed some other way stays.
link="$ROOT/usr/local/bin/voiced"
if [ -L "$link" ] && [ "$(readlink "$link")" = "$ROOT/opt/voiced/venv/bin/voiced" ]; then
    rm -f "$link"
fi
rm -rf "$ROOT/opt/voiced" "$ROOT/var/cache/voiced"
say "removed the program, the unit and the model cache"
if [ "$PURGE" = 1 ]; then
    rm -rf "$ROOT/etc/voiced" "$ROOT/var/lib/voiced"
    if [ "$SKIP_SYSTEM" = 0 ] && id voiced >/dev/null 2>&1; then
        userdel voiced
    fi
    say "purged configuration, state and the voiced user"
else
    say "kept $ROOT/etc/voiced and $ROOT/var/lib/voiced (use --purge to remove them)"
fi

#!/usr/bin/env bash
# The product working end to end on a fresh machine, with no microphone and no broker of your own:
# sets up .venv and a model, starts a private mosquitto on loopback, plays a bundled recording of
# real spoken commands through `voiced run` with config/commands.yaml, and prints every message the
# daemon publishes. With --mic it listens to the default microphone instead (Ctrl-C to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
source_args=(--file "$repo/config/demo/commands.wav")
extras="models-dev"
if [ "${1:-}" = "--mic" ]; then
    source_args=(--mic)
    extras="models-dev,mic"
fi

bash deploy/setup-dev.sh "$extras"
voiced=.venv/bin/voiced
if ! .venv/bin/python -c "from voiced.asr.models import resolve_model; resolve_model()" >/dev/null 2>&1; then
    echo "no speech model installed: fetching the default one"
    $voiced models pull
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$work/mosquitto.conf"
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto_bin" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

cat > "$work/voiced.yaml" <<YAML
site_id: demo
audio:
  realtime: true
grammar:
  paths: ["$repo/config/commands.yaml"]
mqtt:
  host: 127.0.0.1
  port: $port
YAML

echo "broker on 127.0.0.1:$port; messages published by voiced:"
mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'voiced/#' &
pids+=($!)
sleep 0.5
$voiced -v run --config "$work/voiced.yaml" "${source_args[@]}"
sleep 1
echo "demo finished"

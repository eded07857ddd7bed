"""SIGHUP with every kind of bad file that once killed the daemon: it keeps running on the old
grammar and settings, says why in one line, and the next command is still recognised."""
from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from mqtt_support import Subscriber, wait_until
from test_daemon import (CLIPS, COMMANDS, NotifySocket, daemon_log, intents, pcm, silence, start_daemon,
                         write_config)

from voiced.audio.wav import load_audio

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

FAILED = "STATUS=listening (last reload failed"
DEEP = 600  # levels; the fuzzed crashes were at 499-989

# (what is broken, which file, its bytes)
BAD_CONFIG_TAIL = [
    ("a Latin-1 byte", b"# caf\xe9\n"),
    ("a list as a key", b"? []\n: 1\n"),
    ("nesting 1000 deep", b"vad: " + b"[" * 1000 + b"]" * 1000 + b"\n"),
    ("NaN for a bounded setting", b"vad:\n  threshold: .nan\n"),
    ("an unknown tag", b"speculative: !e true\n"),
]
BAD_GRAMMARS = [
    ("a sentence nested deeply", "intents:\n  Deep:\n    data:\n      - sentences: ['" + "(" * DEEP + "a"
     + ")" * DEEP + "']\n"),
    ("an unknown tag", "intents: !e\n  W:\n    data:\n      - sentences: [hello]\n"),
    ("no sentences", "intents: {w: {data: []}}\n"),
    ("not YAML", "intents:\n  Broken: [\n"),
]


def failures(notify: NotifySocket) -> int:
    return sum(1 for line in notify.poll() if line.startswith(FAILED))


def test_every_bad_file_on_sighup_keeps_the_daemon_and_its_grammar(tmp_path, mosquitto, speech_dir):
    grammar = tmp_path / "commands.yaml"
    grammar.write_text(COMMANDS.read_text())
    config = write_config(tmp_path, mosquitto, grammar=grammar)
    good_config = config.read_bytes()
    sub = Subscriber(mosquitto, ["voiced/test/#"])
    notify = NotifySocket(tmp_path)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        bad = [(what, config, good_config + tail) for what, tail in BAD_CONFIG_TAIL]
        bad.append(("a site id with a wildcard", config, good_config.replace(b"site_id: test", b"site_id: 'k/#'")))
        bad += [(what, grammar, text.encode()) for what, text in BAD_GRAMMARS]
        for n, (what, path, content) in enumerate(bad, start=1):
            path.write_bytes(content)
            proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda: failures(notify) == n, 60), f"{what}: {daemon_log(config)}"
            assert proc.poll() is None, f"{what} killed the daemon: {daemon_log(config)}"
            config.write_bytes(good_config)
            grammar.write_text(COMMANDS.read_text())
        log = daemon_log(config)
        assert "Traceback" not in log, log
        assert log.count("reload failed") == len(bad), log

        # Still the old grammar and site: a command is recognised and published where it was.
        proc.stdin.write(pcm(np.concatenate([silence(1.0), load_audio(speech_dir / CLIPS[1][0]), silence(1.5)])))
        proc.stdin.close()
        assert proc.wait(120) == 0, daemon_log(config)
        assert [m["intent"] for m in intents(sub)] == [CLIPS[1][1]], daemon_log(config)
    finally:
        proc.kill()
        sub.close()
        notify.close()


DEVICES = Path(__file__).resolve().parent / "fixtures" / "zigbee2mqtt" / "bridge_devices.json"


def test_zigbee2mqtt_devices_become_commands_in_the_running_daemon(tmp_path, mosquitto, speech_dir):
    """A retained device list reloads the grammar as SIGHUP does: discovery lists the new intents and
    a spoken device command goes out as zigbee2mqtt's own set message."""
    grammar = tmp_path / "commands.yaml"
    grammar.write_text("intents:\n  TimeGet:\n    data:\n      - sentences: ['what time is it']\n")
    config = write_config(tmp_path, mosquitto, grammar=grammar,
                          extra="sources:\n  zigbee2mqtt:\n    base_topic: zigbee2mqtt\n"
                                "    groups: false\n")
    config.write_text(config.read_text().replace("\nmqtt:\n", "\nmqtt:\n  ha_discovery: true\n"))
    sub = Subscriber(mosquitto, ["voiced/test/#", "zigbee2mqtt/+/set", "homeassistant/#"])
    notify = NotifySocket(tmp_path)
    sub.client.publish("zigbee2mqtt/bridge/devices", DEVICES.read_bytes(), qos=1, retain=True).wait_for_publish(5)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        assert notify.wait_for("STATUS=listening (reloaded)", 30), daemon_log(config)

        def announced() -> list:
            with sub._lock:
                found = [json.loads(p) for t, p, _ in sub.messages if t.startswith("homeassistant/event/") and p]
            return found[-1]["event_types"] if found else []
        assert wait_until(lambda: "Zigbee2mqttTurnOn" in announced(), 10), announced()
        lamp = load_audio(speech_dir / "commands/v2j_would_you_please_turn_on_the_living_room_lamp.wav")
        proc.stdin.write(pcm(np.concatenate([silence(1.0), lamp, silence(1.5)])))
        proc.stdin.close()
        assert proc.wait(120) == 0, daemon_log(config)
        assert [json.loads(p) for p in sub.payloads("zigbee2mqtt/living_room_lamp/set")] == [{"state": "ON"}], \
            daemon_log(config)
    finally:
        sub.client.publish("zigbee2mqtt/bridge/devices", b"", qos=1, retain=True)  # clear the retained list
        proc.kill()
        sub.close()
        notify.close()

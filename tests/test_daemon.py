"""The whole daemon as systemd runs it: real speech, the real base-en model, a real mosquitto.

`voiced run` is started as a subprocess with its own NOTIFY_SOCKET, so these tests see exactly
what systemd and an MQTT subscriber would see.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest
from mqtt_support import Subscriber, wait_until

from voiced.audio.wav import load_audio, write_wav
from voiced.errors import EXIT_CONFIG

REPO = Path(__file__).resolve().parent.parent
COMMANDS = REPO / "config" / "commands.yaml"
# Clips from the corpus and the intent (and slots) each must produce.
CLIPS = [
    ("commands/stp_set_a_timer_for_5_minutes.wav", "TimerStart", {"minutes": 5}),
    ("commands/stp_lock_the_front_door.wav", "LockLock", {"door": "front_door"}),
    ("commands/stp_what_time_is_it.wav", "TimeGet", {}),
    ("commands/v2j_would_you_please_turn_on_the_living_room_lamp.wav", "LightOn", {"area": "living_room"}),
]

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def silence(seconds: float) -> np.ndarray:
    # Quiet room noise rather than digital zero, as a real microphone gives.
    return (np.random.default_rng(1).standard_normal(int(seconds * 16000)) * 1e-3).astype(np.float32)


def pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


class NotifySocket:
    """What systemd listens on: a thread keeps reading the daemon's sd_notify datagrams."""

    def __init__(self, folder: Path):
        self.path = str(folder / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.lines: List[str] = []
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                self.lines.extend(self.sock.recv(4096).decode().split("\n"))
            except socket.timeout:
                continue
            except OSError:
                return

    def poll(self) -> List[str]:
        return list(self.lines)

    def wait_for(self, line: str, timeout: float = 120) -> bool:
        return wait_until(lambda: any(x.startswith(line) for x in self.poll()), timeout)

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        self.sock.close()


def write_config(folder: Path, broker, grammar: Path = COMMANDS, extra: str = "") -> Path:
    config = folder / "voiced.yaml"
    config.write_text(
        f"site_id: test\n"
        f"grammar:\n  paths: [{grammar}]\n"
        f"mqtt:\n  host: {broker.host}\n  port: {broker.port}\n  reconnect_max_s: 1\n"
        f"logging:\n  level: INFO\n{extra}")
    return config


def start_daemon(config: Path, notify: Optional[NotifySocket], *args: str, stdin=None) -> subprocess.Popen:
    # The MQTT journal goes beside the config, never into the home folder of whoever runs the tests.
    env = {**os.environ, "WATCHDOG_USEC": "2000000", "STATE_DIRECTORY": str(config.parent / "state")}
    if notify is not None:
        env["NOTIFY_SOCKET"] = notify.path
    log = open(config.parent / "daemon.log", "w")
    return subprocess.Popen([sys.executable, "-m", "voiced", "run", "--config", str(config), *args],
                            stdin=stdin, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=REPO)


def daemon_log(config: Path) -> str:
    return (config.parent / "daemon.log").read_text()


def intents(sub: Subscriber) -> List[dict]:
    with sub._lock:
        return [json.loads(p) for t, p, _ in sub.messages if t.startswith("voiced/test/intent/")]


def check_intent(message: dict, expected: str, slots: dict) -> None:
    assert message["intent"] == expected, message
    assert {k: v["value"] for k, v in message["slots"].items()} == slots, message
    assert message["site_id"] == "test" and message["utterance_id"] and message["end_s"] > message["start_s"]
    # With speculation the result can be ready when the endpoint is decided: total may be ~0.
    assert message["latency_ms"]["asr"] > 0 and message["latency_ms"]["total"] >= 0


DEMO = [("LightOff", {"area": "office"}), ("TimerStart", {"minutes": 5}),
        ("LightColor", {"area": "kitchen", "color": "green"}), ("TimeGet", {}), ("LightOn", {"area": "living_room"}),
        ("LockLock", {"door": "front_door"})]


def test_the_bundled_demo_recording_gives_its_six_commands_and_nothing_else(mosquitto, tmp_path):
    """What the Quick start plays: six commands in real room noise, and a click before the first
    that a VAD onset rule (96 ms once 0.7 sure) once turned into a published MediaNext ("Thanks")."""
    sub = Subscriber(mosquitto, ["voiced/test/#"])
    config = write_config(tmp_path, mosquitto)
    proc = start_daemon(config, None, "--file", str(REPO / "config" / "demo" / "commands.wav"), "--fast")
    try:
        assert proc.wait(240) == 0, daemon_log(config)
        assert wait_until(lambda: sub.payloads("voiced/test/status")[-1:] == ["offline"], 10)
        got = intents(sub)
        assert [m["intent"] for m in got] == [name for name, _ in DEMO], daemon_log(config)
        for message, (name, slots) in zip(got, DEMO):
            check_intent(message, name, slots)
    finally:
        proc.kill()
        sub.close()


def test_spoken_commands_from_a_file_arrive_as_intents(mosquitto, speech_dir, tmp_path):
    parts = [silence(1.0)]
    for clip, _, _ in CLIPS:
        parts += [load_audio(speech_dir / clip), silence(1.5)]
    wav = tmp_path / "commands.wav"
    write_wav(wav, np.concatenate(parts))
    sub = Subscriber(mosquitto, ["voiced/test/#", "zigbee2mqtt/#"])
    notify = NotifySocket(tmp_path)
    config = write_config(tmp_path, mosquitto, extra="debug:\n  recordings_dir: rec\n  max_recordings: 3\n")
    proc = start_daemon(config, notify, "--file", str(wav), "--fast")
    try:
        assert proc.wait(240) == 0, daemon_log(config)
        assert wait_until(lambda: sub.payloads("voiced/test/status")[-1:] == ["offline"], 10)
        got = intents(sub)
        assert [m["intent"] for m in got] == [c[1] for c in CLIPS], daemon_log(config)
        for message, (_, name, slots) in zip(got, CLIPS):
            check_intent(message, name, slots)
        assert sub.payloads("voiced/test/status") == ["online", "offline"]
        # The grammar's action for LockLock went to the device topic too.
        assert [json.loads(p) for p in sub.payloads("zigbee2mqtt/front_door_lock/set")] == [{"state": "LOCK"}]
        # Debug recordings: the newest three utterances, each a WAV with its transcript and match.
        records = sorted((tmp_path / "rec").glob("*.json"))
        assert len(records) == 3 and len(list((tmp_path / "rec").glob("*.wav"))) == 3
        saved = [json.loads(r.read_text()) for r in records]
        assert [r["match"]["intent"] for r in saved] == [c[1] for c in CLIPS[1:]]
        assert [r["text"] for r in saved] == [m["text"] for m in got[1:]]
        lines = notify.poll()
        assert "READY=1" in lines and "WATCHDOG=1" in lines and "STOPPING=1" in lines, lines
        assert lines.index("READY=1") < lines.index("STOPPING=1")
    finally:
        proc.kill()
        sub.close()
        notify.close()


def test_bad_config_exits_78_with_a_readable_message(tmp_path, mosquitto):
    config = write_config(tmp_path, mosquitto, extra="vad:\n  threshold: 7\n  min_silense_ms: 300\n")
    proc = start_daemon(config, None)
    assert proc.wait(60) == EXIT_CONFIG
    err = daemon_log(config)
    assert "Traceback" not in err
    assert f"{config}:" in err and "vad.threshold" in err and "did you mean 'min_silence_ms'" in err


def test_bad_grammar_at_start_exits_78(tmp_path, mosquitto):
    grammar = tmp_path / "commands.yaml"
    grammar.write_text("intents:\n  Broken:\n    data:\n      - sentences: ['turn on the {nothing}']\n")
    config = write_config(tmp_path, mosquitto, grammar=grammar)
    proc = start_daemon(config, None)
    assert proc.wait(60) == EXIT_CONFIG
    err = daemon_log(config)
    assert "Traceback" not in err and str(grammar) in err and "nothing" in err


def test_bad_grammar_on_sighup_keeps_the_old_one(tmp_path, mosquitto, speech_dir):
    grammar = tmp_path / "commands.yaml"
    grammar.write_text(COMMANDS.read_text())
    config = write_config(tmp_path, mosquitto, grammar=grammar)
    sub = Subscriber(mosquitto, ["voiced/test/#"])
    notify = NotifySocket(tmp_path)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        proc.stdin.write(pcm(np.concatenate([silence(1.0), load_audio(speech_dir / CLIPS[1][0]), silence(1.5)])))
        proc.stdin.flush()
        assert wait_until(lambda: len(intents(sub)) == 1, 60), daemon_log(config)

        grammar.write_text("intents:\n  Broken: [\n")  # not even YAML
        proc.send_signal(signal.SIGHUP)
        assert notify.wait_for("STATUS=listening (last reload failed"), daemon_log(config)
        assert "reload failed" in daemon_log(config)

        proc.stdin.write(pcm(np.concatenate([load_audio(speech_dir / CLIPS[2][0]), silence(1.5)])))
        proc.stdin.close()  # end of input: the daemon finishes and exits
        assert proc.wait(120) == 0, daemon_log(config)
        assert [m["intent"] for m in intents(sub)] == [CLIPS[1][1], CLIPS[2][1]]
    finally:
        proc.kill()
        sub.close()
        notify.close()


def test_a_good_grammar_on_sighup_brings_its_actions_and_intents_together(tmp_path, mosquitto, speech_dir):
    """After a reload the next command goes out with the new grammar's action, and Home
    Assistant is told the new intent names."""
    grammar = tmp_path / "commands.yaml"
    grammar.write_text(COMMANDS.read_text())
    config = write_config(tmp_path, mosquitto, grammar=grammar)
    config.write_text(config.read_text().replace("  reconnect_max_s: 1\n",
                                                 "  reconnect_max_s: 1\n  ha_discovery: true\n"))
    discovery = "homeassistant/event/voiced_test/intent/config"
    sub = Subscriber(mosquitto, ["voiced/test/#", "zigbee2mqtt/#", "reloaded/#", discovery])
    notify = NotifySocket(tmp_path)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    lock = pcm(np.concatenate([silence(1.0), load_audio(speech_dir / CLIPS[1][0]), silence(1.5)]))

    def event_types() -> List[str]:
        announced = sub.payloads(discovery)
        return json.loads(announced[-1])["event_types"] if announced else []

    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        assert wait_until(lambda: "LockLock" in event_types(), 30), daemon_log(config)
        proc.stdin.write(lock)
        proc.stdin.flush()
        assert wait_until(lambda: sub.payloads("zigbee2mqtt/front_door_lock/set"), 60), daemon_log(config)

        grammar.write_text(COMMANDS.read_text().replace("zigbee2mqtt/{door}_lock/set", "reloaded/{door}_lock/set")
                           + '\n  ReloadCheck:\n    data:\n      - sentences: ["reload check"]\n')
        proc.send_signal(signal.SIGHUP)
        assert notify.wait_for("STATUS=listening (reloaded)"), daemon_log(config)
        assert wait_until(lambda: "ReloadCheck" in event_types(), 30), daemon_log(config)

        proc.stdin.write(lock)
        proc.stdin.close()  # end of input: the daemon finishes and exits
        assert proc.wait(120) == 0, daemon_log(config)
        assert [m["intent"] for m in intents(sub)] == [CLIPS[1][1], CLIPS[1][1]]
        assert wait_until(lambda: sub.payloads("reloaded/front_door_lock/set"), 10), daemon_log(config)
        assert len(sub.payloads("zigbee2mqtt/front_door_lock/set")) == 1
    finally:
        proc.kill()
        sub.close()
        notify.close()


def test_sigterm_during_an_utterance_publishes_it_then_offline(tmp_path, mosquitto, speech_dir):
    # A long hangover, so the utterance cannot end by itself: only the shutdown can close it.
    config = write_config(tmp_path, mosquitto, extra="vad:\n  min_silence_ms: 5000\n")
    sub = Subscriber(mosquitto, ["voiced/test/#"])
    notify = NotifySocket(tmp_path)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        proc.stdin.write(pcm(np.concatenate([silence(1.0), load_audio(speech_dir / CLIPS[1][0])])))
        proc.stdin.flush()
        assert notify.wait_for("STATUS=hearing speech", 30), daemon_log(config)
        time.sleep(1.0)  # let it read the rest of the clip from the pipe
        assert not intents(sub)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, daemon_log(config)
        assert wait_until(lambda: sub.payloads("voiced/test/status")[-1:] == ["offline"], 10)
        with sub._lock:
            topics = [t for t, _, _ in sub.messages]
        assert topics.index(f"voiced/test/intent/{CLIPS[1][1]}") < len(topics) - 1
        assert topics[-1] == "voiced/test/status"
        assert "STOPPING=1" in notify.poll()
    finally:
        proc.kill()
        sub.close()
        notify.close()


def test_recorder_keeps_only_the_newest(tmp_path):
    from voiced.recorder import Recorder

    recorder = Recorder(tmp_path / "rec", max_recordings=2)
    for i in range(4):
        wav = recorder.save(f"u{i}", silence(0.1), {"text": f"utterance {i}"})
        os.utime(wav, (1000 + i, 1000 + i))  # distinct ages even within one clock tick
    kept = sorted(p.name.split("_", 1)[1] for p in (tmp_path / "rec").iterdir())
    assert kept == ["u2.json", "u2.wav", "u3.json", "u3.wav"]
    assert len(load_audio(tmp_path / "rec" / next(p.name for p in (tmp_path / "rec").glob("*_u3.wav")))) == 1600


def test_recordings_sort_in_the_order_they_were_saved(tmp_path):
    """Utterances a --fast run saves within one second still list, and prune, in order."""
    from voiced.recorder import Recorder

    recorder = Recorder(tmp_path / "rec", max_recordings=5)
    ids = ["f3", "a1", "c2", "b9", "e0", "d4", "0a"]  # not in alphabetical order
    for uid in ids:
        recorder.save(uid, silence(0.01), {"text": uid})
    names = sorted(p.stem.split("_", 1)[1] for p in (tmp_path / "rec").glob("*.wav"))
    listed = [p.stem.split("_", 1)[1] for p in sorted((tmp_path / "rec").glob("*.wav"))]
    assert listed == ids[-5:] and sorted(listed) == names


def test_listen_off_over_mqtt_ignores_speech_until_on_again(tmp_path, mosquitto, speech_dir):
    config = write_config(tmp_path, mosquitto)
    sub = Subscriber(mosquitto, ["voiced/test/#"])
    notify = NotifySocket(tmp_path)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        assert wait_until(lambda: sub.payloads("voiced/test/listen") == ["on"], 10)
        sub.client.publish("voiced/test/listen/set", "off", qos=1)
        assert wait_until(lambda: sub.payloads("voiced/test/listen")[-1:] == ["off"], 10)
        muted = load_audio(speech_dir / CLIPS[2][0])
        heard = load_audio(speech_dir / CLIPS[1][0])
        proc.stdin.write(pcm(np.concatenate([silence(1.0), muted, silence(1.5)])))
        proc.stdin.flush()
        time.sleep(3.0)  # the muted clip is read and skipped before listening resumes
        sub.client.publish("voiced/test/listen/set", "on", qos=1)
        assert wait_until(lambda: sub.payloads("voiced/test/listen")[-1:] == ["on"], 10)
        spoken_at = time.time() + 1.0  # after the second of silence below
        proc.stdin.write(pcm(np.concatenate([silence(1.0), heard, silence(1.5)])))
        proc.stdin.close()
        assert proc.wait(120) == 0, daemon_log(config)
        assert [m["intent"] for m in intents(sub)] == [CLIPS[1][1]]
        # Stream time restarts when listening resumes: started_at must not run early by the muted time.
        assert abs(intents(sub)[0]["started_at"] - spoken_at) < 2.0, (intents(sub)[0], spoken_at)
    finally:
        proc.kill()
        sub.close()
        notify.close()


def test_a_missing_ca_file_exits_78_naming_it(tmp_path, mosquitto):
    config = write_config(tmp_path, mosquitto)
    config.write_text(config.read_text().replace("  reconnect_max_s: 1\n",
                                                 "  reconnect_max_s: 1\n  tls:\n    ca_certs: missing-ca.crt\n"))
    proc = start_daemon(config, None)
    assert proc.wait(60) == EXIT_CONFIG
    err = daemon_log(config)
    assert "Traceback" not in err and "mqtt.tls.ca_certs" in err and str(tmp_path / "missing-ca.crt") in err


def journaled_intents(folder: Path) -> List[str]:
    """Intent topics in the daemon's MQTT journal that are not marked done."""
    path = folder / "state" / "outbox-test.jsonl"
    live = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:  # the line being written right now
            continue
        if "seq" in record:
            live[record["seq"]] = record["topic"]
        for seq in record.get("done", []):
            live.pop(seq, None)
    return [topic for topic in live.values() if topic.startswith("voiced/test/intent/")]


def test_intents_queued_while_the_broker_is_down_survive_sigterm_and_sigkill(mosquitto_factory, speech_dir,
                                                                              tmp_path):
    broker = mosquitto_factory()
    broker.stop()
    config = write_config(tmp_path, broker)
    clips = [pcm(np.concatenate([load_audio(speech_dir / clip), silence(1.5)])) for clip, _, _ in CLIPS]

    def run_until_journaled(folder: Path, audio: List[bytes], count: int) -> subprocess.Popen:
        folder.mkdir()
        notify = NotifySocket(folder)
        proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
        try:
            assert notify.wait_for("READY=1"), daemon_log(config)
            proc.stdin.write(pcm(silence(1.0)) + b"".join(audio))
            proc.stdin.flush()
            assert wait_until(lambda: len(journaled_intents(tmp_path)) == count, 120), daemon_log(config)
        except BaseException:
            proc.kill()
            raise
        finally:
            notify.close()
        return proc

    # SIGTERM with the broker down: the log says what stays in the journal.
    proc = run_until_journaled(tmp_path / "first", clips[:2], 2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, daemon_log(config)
    assert "stay in the journal" in daemon_log(config) and "sent after the next start" in daemon_log(config)
    # Started again, still without a broker: the two wait, two more join them, then SIGKILL.
    proc = run_until_journaled(tmp_path / "second", clips[2:], 4)
    proc.kill()
    proc.wait(10)

    broker.start()
    sub = Subscriber(broker, ["voiced/test/#"])
    notify = NotifySocket(tmp_path)
    proc = start_daemon(config, notify, "--stdin", stdin=subprocess.PIPE)
    try:
        assert notify.wait_for("READY=1"), daemon_log(config)
        assert wait_until(lambda: len(intents(sub)) >= 4, 60), daemon_log(config)
        proc.stdin.close()
        assert proc.wait(60) == 0, daemon_log(config)
        assert wait_until(lambda: sub.payloads("voiced/test/status")[-1:] == ["offline"], 10)
        got = intents(sub)
        assert [m["intent"] for m in got] == [c[1] for c in CLIPS], daemon_log(config)  # in order, once each
        for message, (_, name, slots) in zip(got, CLIPS):
            check_intent(message, name, slots)
        assert journaled_intents(tmp_path) == []
    finally:
        proc.kill()
        sub.close()
        notify.close()


def test_speech_and_result_feedback_come_in_order_for_real_utterances(mosquitto, speech_dir, tmp_path):
    """For lights and sounds: `speech` start/stop as the VAD opens and closes each utterance, then
    its `result`, before the intent itself; Home Assistant's device gets every entity and its state."""
    stray = "sentences/librispeech_251-118436-0001.wav"  # "I tell you it is not poison she cried"
    wav = tmp_path / "heard.wav"
    write_wav(wav, np.concatenate([silence(1.0), load_audio(speech_dir / CLIPS[1][0]), silence(1.5),
                                   load_audio(speech_dir / stray), silence(1.5)]))
    config = write_config(tmp_path, mosquitto)
    config.write_text(config.read_text().replace("  reconnect_max_s: 1\n",
                                                 "  reconnect_max_s: 1\n  ha_discovery: true\n"))
    sub = Subscriber(mosquitto, ["voiced/test/#", "homeassistant/#"])
    proc = start_daemon(config, None, "--file", str(wav), "--fast")
    try:
        assert proc.wait(240) == 0, daemon_log(config)
        assert wait_until(lambda: sub.payloads("voiced/test/status")[-1:] == ["offline"], 10)
        with sub._lock:
            timeline = [(t.split("/", 2)[2], p) for t, p, _ in sub.messages
                        if t in ("voiced/test/speech", "voiced/test/result") or t.startswith("voiced/test/intent/")]
        assert timeline[0] == ("speech", "stop"), timeline  # the state on connect, before anything is heard
        groups: List[List[str]] = []  # one per utterance: start, stop, then its result and intent if any
        for kind, payload in timeline[1:]:
            if kind == "speech" and payload == "start":
                groups.append(["start"])
            elif kind == "speech":
                groups[-1].append("stop")
            elif kind == "result":
                message = json.loads(payload)
                groups[-1].append(f"result {message['result']} {message['intent']}")
            else:
                groups[-1].append(kind)
        assert groups[0] == ["start", "stop", "result recognized LockLock", "intent/LockLock"], timeline
        for group in groups[1:]:
            assert group[:2] == ["start", "stop"] and len(group) <= 3, timeline
        assert "result not_recognized None" in [g[2] for g in groups[1:] if len(g) == 3], timeline

        results = [json.loads(p) for p in sub.payloads("voiced/test/result")]
        assert results[0]["utterance_id"] == intents(sub)[0]["utterance_id"]
        events = [json.loads(p) for p in sub.payloads("voiced/test/event")]
        assert [e["event_type"] for e in events] == ["LockLock"] + ["not_recognized"] * (len(results) - 1)
        state = json.loads(sub.payloads("voiced/test/state")[-1])
        assert state["transcript"] == results[-1]["text"] and state["result"] == "not_recognized"
        assert state["model"] and state["latency_ms"] is not None
        configs = [t for t, _, _ in sub.messages if t.startswith("homeassistant/") and t.endswith("/config")]
        assert len(set(configs)) == 6, configs
    finally:
        proc.kill()
        sub.close()

"""End-to-end latency of the running daemon: `voiced bench e2e`.

A stream of command recordings plays through the real daemon (file source in real time, Silero
VAD, endpointer, recogniser, matcher, publisher) to a real mosquitto on loopback, and a
subscriber in the same process timestamps every message. Each mode (speculation off, on) runs
in its own process, so peak RSS and warm caches are its own.

Times are wall-clock. A moment of stream time counts from when the capture block holding it
reached the daemon: the earliest the VAD could know about it.
"""
from __future__ import annotations

import bisect
import json
import logging
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.daemon import Daemon
from voiced.vad.endpoint import AUDIO, Event
from voiced.stages import Finished, Observer

if TYPE_CHECKING:
    from paho.mqtt.client import Client, MQTTMessage

log = logging.getLogger(__name__)

LEAD_S = 3.0  # silence before the first command: the idle-CPU window
GAP_S = 1.5  # room tone between commands, as in the demo recording
TAIL_S = 1.5
IDLE_WINDOW = (0.7, LEAD_S - 0.3)  # stream seconds measured as idle (the VAD is warm, no speech)
VOICED_DB = 35.0  # a 10 ms frame within this many dB of the loudest is voiced


def room_tone(seconds: float, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE)) * 1e-3).astype(np.float32)


def compose_stream(paths: List[Path]) -> np.ndarray:
    """Lead silence, then every recording followed by a gap of room tone."""
    from voiced.audio.wav import load_audio

    parts = [room_tone(LEAD_S)]
    for i, path in enumerate(paths):
        parts += [load_audio(path, SAMPLE_RATE), room_tone(GAP_S if i + 1 < len(paths) else TAIL_S, seed=i + 2)]
    return np.concatenate(parts)


def last_voiced_s(stream: np.ndarray, start_s: float, end_s: float) -> float:
    """End of the last voiced 10 ms frame in [start_s, end_s): the true end of speech, from the
    signal's energy rather than the VAD (which is what is being timed)."""
    hop = SAMPLE_RATE // 100
    a = stream[int(start_s * SAMPLE_RATE): int(end_s * SAMPLE_RATE)]
    n = len(a) // hop
    if n == 0:
        return end_s
    rms = np.sqrt(np.mean(a[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    voiced = np.nonzero(db >= db.max() - VOICED_DB)[0]
    return start_s + (int(voiced[-1]) + 1) * hop / SAMPLE_RATE


def peak_rss_mb() -> float:
    """VmHWM of this process (MiB); falls back to ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class BenchObserver(Observer):
    """What the benchmark needs to know of a daemon run, told by the daemon as it happens."""

    def __init__(self) -> None:
        self.captured: List[Tuple[float, float, int]] = []
        """(wall, cpu seconds, samples before this block) per block, appended by the capture thread"""
        self._samples = 0
        self.speaking_s = 0.0
        """processing-thread time spent on utterance audio (feed, encode; VAD excluded)"""
        self.finished: List[Finished] = []
        self.speculation = {"used": 0, "discarded": 0}

    def block_queued(self, samples: int) -> None:
        self.captured.append((time.time(), _cpu_s(), self._samples))
        self._samples += samples

    def event_handled(self, event: Event, in_utterance: bool, seconds: float) -> None:
        if event.kind == AUDIO and in_utterance:
            self.speaking_s += seconds

    def speculation_discarded(self, why: str) -> None:
        self.speculation["discarded"] += 1

    def utterance_finished(self, finished: Finished) -> None:
        self.finished.append(finished)
        if finished.speculative:
            self.speculation["used"] += 1


@dataclass
class Arrivals:
    """First arrival time of each utterance's messages at a subscriber."""

    first: Dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, client: Client, userdata: object, msg: MQTTMessage) -> None:
        now = time.time()
        try:
            uid = json.loads(msg.payload).get("utterance_id")
        except (ValueError, AttributeError):
            return
        if uid:
            with self.lock:
                self.first.setdefault(uid, now)


def subscribe(host: str, port: int, topic: str, arrivals: Arrivals) -> Client:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"voiced-bench-{os.getpid()}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *a: ready.set()
    client.on_message = arrivals.on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not ready.wait(10):
        raise RuntimeError(f"cannot subscribe at {host}:{port}")
    return client


def run_mode(spec: Dict[str, Any]) -> Dict[str, Any]:
    """One mode in this process: play spec["wav"] through the daemon; raw measurements."""
    import dataclasses

    from voiced.config import (AudioConfig, Config, GrammarConfig, LoggingConfig, ModelConfig, MqttConfig,
                               RescoringConfig)

    config = Config(
        site_id="bench", speculative=spec["speculative"],
        audio=AudioConfig(source="file", file=spec["wav"], realtime=True),
        model=dataclasses.replace(ModelConfig(), path=spec.get("model"), intra_op_threads=spec["threads"],
                                  **({"max_tokens_per_second": spec["tokens_per_second"]}
                                     if spec.get("tokens_per_second") else {})),
        grammar=GrammarConfig(paths=[spec["grammar"]]),
        rescoring=RescoringConfig(mode=spec.get("rescoring", "uncertain")),
        mqtt=MqttConfig(host=spec["host"], port=spec["port"], client_id=f"voiced-bench-daemon-{os.getpid()}"),
        logging=LoggingConfig(level="WARNING"))
    arrivals = Arrivals()
    client = subscribe(spec["host"], spec["port"], "voiced/bench/#", arrivals)
    observer = BenchObserver()
    try:
        daemon = Daemon(config, observer=observer)
        code = daemon.run()
        time.sleep(0.3)  # the last message's way back
    finally:
        client.disconnect()
        client.loop_stop()
    if code != 0:
        raise RuntimeError(f"daemon exited with {code}")
    return _measurements(daemon, observer, arrivals, spec)


def _measurements(daemon: Daemon, seen: BenchObserver, arrivals: Arrivals, spec: Dict[str, Any]) -> Dict[str, Any]:
    from voiced.audio.wav import load_audio

    stream = load_audio(spec["wav"], SAMPLE_RATE)
    starts = [n for _, _, n in seen.captured]

    def delivered(s: float) -> float:
        """Wall time the block holding stream second `s` was captured."""
        k = max(0, bisect.bisect_left(starts, int(round(s * SAMPLE_RATE))) - 1)
        return seen.captured[k][0]

    utterances: List[Dict[str, Any]] = []
    for done in seen.finished:
        utt = done.utterance
        arrived = arrivals.first.get(utt.id)
        true_end = last_voiced_s(stream, utt.start_s, utt.end_s)
        utterances.append({
            "text": utt.text, "speculative": done.speculative, "n_tokens": done.n_tokens,
            "asr_ms": utt.latency_ms["asr"], "audio_s": utt.end_s - utt.start_s,
            "endpoint_ms": None if arrived is None or done.decided_s is None
            else (arrived - delivered(done.decided_s)) * 1000.0,
            "speech_end_ms": None if arrived is None else (arrived - delivered(true_end)) * 1000.0})
    idle = [(w, c) for w, c, n in seen.captured if IDLE_WINDOW[0] <= n / SAMPLE_RATE <= IDLE_WINDOW[1]]
    idle_pct = 100.0 * (idle[-1][1] - idle[0][1]) / (idle[-1][0] - idle[0][0]) if len(idle) > 2 else None
    speech_s = sum(u["audio_s"] for u in utterances)
    return {"utterances": utterances, "idle_cpu_pct": idle_pct,
            "speech_load_pct": 100.0 * seen.speaking_s / speech_s if speech_s else None,
            "peak_rss_mb": peak_rss_mb(), "speculation": dict(seen.speculation),
            "model": daemon.model_name, "rescorer": daemon.processor.interpreter.rescorer is not None}


def main(argv: Optional[List[str]] = None) -> int:
    """Worker entry: `python -m voiced.bench.e2e SPEC_JSON`; prints the measurements as JSON."""
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    result = run_mode(json.loads(argv[0]))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

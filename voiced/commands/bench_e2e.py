"""`voiced bench e2e`: end-to-end response latency with speculative finalization off and on."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from voiced.errors import ConfigError, Problem, VoicedError
from voiced.paths import DEMO_RECORDING, SHIPPED_GRAMMAR

log = logging.getLogger(__name__)

DEFAULT_FILES = [DEMO_RECORDING]
DEFAULT_GRAMMAR = SHIPPED_GRAMMAR
MODES = (("naive", False), ("speculative", True))


def register_bench(bench_subparsers) -> None:
    p = bench_subparsers.add_parser(
        "e2e", help="end-to-end latency through the whole daemon, speculation off vs on",
        description="Plays command recordings in real time through the daemon (VAD, recogniser, matcher, "
                    "publisher) to a mosquitto it starts on loopback, once without and once with speculative "
                    "finalization, and reports the time from the endpoint decision and from the true end of "
                    "speech to the message's arrival at a subscriber, compute load, idle CPU and peak RSS.")
    p.add_argument("--files", type=Path, nargs="+", default=DEFAULT_FILES, metavar="WAV",
                   help="recordings to play, in order, 1.5 s apart (default: the demo recording, 6 commands)")
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: see README, Models)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="recogniser intra-op threads (default 1)")
    p.add_argument("--grammar", type=Path, default=DEFAULT_GRAMMAR, metavar="FILE",
                   help="command grammar (default: config/commands.yaml)")
    p.add_argument("--max-tokens-per-second", type=float, metavar="N",
                   help="decoding budget per audio second (default: the model setting; random-weight twins "
                        "decode up to the budget, so give them a realistic one, e.g. 3)")
    p.add_argument("--rescoring", choices=["off", "uncertain", "always"], default="uncertain",
                   help="acoustic rescoring mode (default: uncertain, as the daemon); run once with off to see "
                        "what it adds")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from voiced.audio.wav import write_wav
    from voiced.bench.e2e import compose_stream

    missing = [p for p in list(args.files) + [args.grammar] if not p.is_file()]
    if missing:
        raise ConfigError([Problem("file not found", file=str(p), hint="check the path") for p in missing])
    if shutil.which("mosquitto") is None:
        raise VoicedError("mosquitto is not installed; the benchmark needs it (apt install mosquitto)")
    with tempfile.TemporaryDirectory(prefix="voiced-e2e-") as tmp:
        wav = Path(tmp) / "stream.wav"
        stream = compose_stream(list(args.files))
        write_wav(wav, stream)
        with LoopbackBroker(Path(tmp)) as broker:
            spec = {"wav": str(wav), "model": str(args.model) if args.model else None, "threads": args.threads,
                    "grammar": str(args.grammar), "tokens_per_second": args.max_tokens_per_second,
                    "host": broker.host, "port": broker.port, "rescoring": args.rescoring}
            raw = {name: _run_worker({**spec, "speculative": on}, len(stream) / 16000.0) for name, on in MODES}
    report = summarize(raw, args, len(stream) / 16000.0)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


def _run_worker(spec: Dict[str, Any], stream_s: float) -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "voiced.bench.e2e", json.dumps(spec)], capture_output=True,
                          text=True, timeout=stream_s + 300)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise VoicedError(f"benchmark run ({'speculative' if spec['speculative'] else 'naive'}) failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class LoopbackBroker:
    """A private mosquitto on a free loopback port, for the duration of the benchmark."""

    def __init__(self, folder: Path):
        self.host = "127.0.0.1"
        with socket.socket() as sock:
            sock.bind((self.host, 0))
            self.port = sock.getsockname()[1]
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} {self.host}\nallow_anonymous true\n")
        self.proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "LoopbackBroker":
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection((self.host, self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise VoicedError(f"mosquitto did not start on {self.host}:{self.port}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _percentile(values: List[float], q: float) -> Optional[float]:
    import numpy as np

    return round(float(np.percentile(values, q)), 1) if values else None


def _mode_summary(raw: Dict[str, Any]) -> Dict[str, Any]:
    utts = raw["utterances"]
    endpoint = [u["endpoint_ms"] for u in utts if u["endpoint_ms"] is not None]
    speech_end = [u["speech_end_ms"] for u in utts if u["speech_end_ms"] is not None]
    tokens = [u["n_tokens"] for u in utts]
    return {
        "utterances": len(utts), "published": len(endpoint),
        "endpoint_to_message_ms": {"p50_ms": _percentile(endpoint, 50), "p95_ms": _percentile(endpoint, 95)},
        "speech_end_to_message_ms": {"p50_ms": _percentile(speech_end, 50), "p95_ms": _percentile(speech_end, 95)},
        "asr_compute_ms_p50": _percentile([u["asr_ms"] for u in utts], 50),
        "tokens_decoded_mean": round(sum(tokens) / len(tokens), 1) if tokens else None,
        "speech_load_pct": _round(raw["speech_load_pct"]),
        "idle_cpu_pct": _round(raw["idle_cpu_pct"]),
        "peak_rss_mb": _round(raw["peak_rss_mb"]),
        "speculation_used": raw["speculation"]["used"], "speculation_discarded": raw["speculation"]["discarded"],
        "rescorer": raw.get("rescorer", False),
        "transcripts": [u["text"] for u in utts],
    }


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), 1)


def summarize(raw: Dict[str, Dict[str, Any]], args: argparse.Namespace, stream_s: float) -> Dict[str, Any]:
    modes = {name: _mode_summary(raw[name]) for name, _ in MODES}
    naive = modes["naive"]["endpoint_to_message_ms"]["p50_ms"]
    fast = modes["speculative"]["endpoint_to_message_ms"]["p50_ms"]
    return {"model": raw["naive"]["model"], "threads": args.threads, "rescoring": args.rescoring,
            "files": [str(p) for p in args.files],
            "stream_s": round(stream_s, 1), "max_tokens_per_second": args.max_tokens_per_second,
            **modes, "p50_speedup": round(naive / max(fast, 1.0), 1) if naive and fast is not None else None}


def format_table(report: Dict[str, Any]) -> str:
    rows = [
        ("endpoint → message p50 (ms)", lambda m: m["endpoint_to_message_ms"]["p50_ms"]),
        ("endpoint → message p95 (ms)", lambda m: m["endpoint_to_message_ms"]["p95_ms"]),
        ("end of speech → message p50 (ms)", lambda m: m["speech_end_to_message_ms"]["p50_ms"]),
        ("end of speech → message p95 (ms)", lambda m: m["speech_end_to_message_ms"]["p95_ms"]),
        ("recogniser compute p50 (ms)", lambda m: m["asr_compute_ms_p50"]),
        ("tokens decoded (mean)", lambda m: m["tokens_decoded_mean"]),
        ("load while speaking (% of audio)", lambda m: m["speech_load_pct"]),
        ("idle CPU on silence (%)", lambda m: m["idle_cpu_pct"]),
        ("peak RSS (MiB)", lambda m: m["peak_rss_mb"]),
        ("utterances published", lambda m: f"{m['published']}/{m['utterances']}"),
        ("speculative results used/discarded", lambda m: f"{m['speculation_used']}/{m['speculation_discarded']}"),
    ]
    lines = [f"model {report['model']}, {report['threads']} thread(s), rescoring {report['rescoring']}, "
             f"{report['stream_s']} s of audio in real time",
             f"{'':36} {'naive':>10} {'speculative':>12}"]
    for label, get in rows:
        lines.append(f"{label:36} {_cell(get(report['naive'])):>10} {_cell(get(report['speculative'])):>12}")
    if report["p50_speedup"]:
        lines.append(f"endpoint → message p50 speed-up: {report['p50_speedup']}×")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)

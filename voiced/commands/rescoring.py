"""`voiced bench rescoring`: the latency grammar-aware rescoring adds per utterance."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import List

from voiced.errors import ConfigError, Problem
from voiced.paths import CONFIG_DIR, SHIPPED_GRAMMAR

log = logging.getLogger(__name__)

DEFAULT_CLIPS = CONFIG_DIR.parent.parent / "shared" / "speech" / "commands"


def register_bench(bench_subparsers) -> None:
    p = bench_subparsers.add_parser(
        "rescoring", help="extra latency of grammar-aware rescoring per utterance",
        description="Transcribes every WAV in --clips, matches it, then times the rescoring stage "
                    "(candidate list + one batched decoder call on the utterance's encoder states) in "
                    "modes always and uncertain. Prints p50/p95 of the extra milliseconds next to the "
                    "transcription's own latency. With --labels the candidate list is built from the "
                    "labelled transcripts, so a model whose text is meaningless still scores realistic lists.")
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, metavar="DIR",
                   help="folder of WAV files (default: the speech corpus' commands)")
    p.add_argument("--labels", type=Path, metavar="FILE", help="labels JSON with a transcript per file")
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: see README, Models)")
    p.add_argument("--grammar", type=Path, default=SHIPPED_GRAMMAR, metavar="FILE")
    p.add_argument("--config", type=Path, help="config file for the rescoring section (default: built-in)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--limit", type=int, default=40, metavar="N", help="at most N clips (default 40)")
    p.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np

    from voiced.asr.models import resolve_model
    from voiced.asr.sessions import SessionSettings
    from voiced.asr.transcriber import Transcriber
    from voiced.audio.wav import load_audio
    from voiced.config import load_config
    from voiced.grammar import Matcher, load_grammar
    from voiced.paths import models_dir
    from voiced.rescoring import Rescorer

    clips = sorted(args.clips.glob("*.wav"))[: args.limit] if args.clips.is_dir() else []
    if not clips:
        raise ConfigError([Problem("no WAV files to run", file=str(args.clips), hint="pass --clips DIR")])
    labels = json.loads(args.labels.read_text(encoding="utf-8")) if args.labels else {}
    config = load_config(args.config).rescoring
    files = resolve_model(args.model, models_dir(), origin="--model")
    transcriber = Transcriber(files, SessionSettings(intra_op_threads=max(1, args.threads)))
    matcher = Matcher(load_grammar([args.grammar]))
    always = Rescorer(transcriber, matcher, dataclasses.replace(config, mode="always"))
    decode_ms: List[float] = []
    extra: List[float] = []
    gated: List[float] = []
    sizes: List[int] = []
    for path in clips:
        transcript = transcriber.transcribe(load_audio(path))
        decode_ms.append(transcript.timings.get("total", 0.0))
        if path.name in labels:  # score the lists the labelled words would give
            transcript = dataclasses.replace(transcript, text=labels[path.name].get("transcript", transcript.text))
        match = matcher.match(transcript.text)
        states = transcriber.encoder_states()
        # this clip's shapes, once, as the daemon's warm-up would
        always.evaluate(transcript.text, states, transcript=transcript)
        result = always.decide(match, transcript, states)
        ms = float(result.rescoring.get("ms", 0.0))
        extra.append(ms)
        sizes.append(int(result.rescoring.get("candidates", 0)))
        gated.append(ms if not match.recognized or match.confidence < config.uncertain_below else 0.0)
    print(f"{files.name} ({files.layout}), {len(clips)} clips from {args.clips}, {args.threads} thread(s)")
    print(f"  transcription (finalize):   p50 {np.percentile(decode_ms, 50):7.1f} ms   p95 {np.percentile(decode_ms, 95):7.1f} ms")
    print(f"  rescoring, mode always:     p50 {np.percentile(extra, 50):7.1f} ms   p95 {np.percentile(extra, 95):7.1f} ms"
          f"   (candidates p50 {np.percentile(sizes, 50):.0f}, max {max(sizes)})")
    ran = sum(1 for g in gated if g > 0)
    print(f"  rescoring, mode uncertain:  p50 {np.percentile(gated, 50):7.1f} ms   p95 {np.percentile(gated, 95):7.1f} ms"
          f"   (ran on {ran} of {len(gated)}, below confidence {config.uncertain_below})")
    return 0

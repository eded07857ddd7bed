"""`voiced eval DIR --labels FILE`: accuracy per clip or as one continuous stream; `voiced eval-set`: synthetic sets."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from voiced.errors import ConfigError, Problem
from voiced.paths import SHIPPED_GRAMMAR

log = logging.getLogger(__name__)



def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="accuracy and latency on a folder of labelled WAV files",
        description="Run every WAV in DIR through the daemon's path (VAD, endpointer, recogniser, matcher) "
                    "and compare with the labels: command acceptance, false accepts on clips labelled "
                    "null, per-intent and per-slot errors, WER, latency (endpoint -> result).")
    p.add_argument("dir", type=Path, metavar="DIR", help="folder of WAV files (searched recursively)")
    p.add_argument("--labels", type=Path, required=True, metavar="FILE",
                   help='JSON: {"file.wav": {"intent": NAME or null, "slots": {...}, "transcript": "..."}}')
    p.add_argument("--grammar", type=Path, action="append", metavar="FILE",
                   help="command grammar (repeatable; default: the config's grammar.paths, else config/commands.yaml)")
    p.add_argument("--config", type=Path, help="config file (VAD, model, matching settings); default: built-in")
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (overrides model.path)")
    p.add_argument("--threads", type=int, metavar="N", help="recogniser intra-op threads (default: planned)")
    p.add_argument("--rescoring", choices=["off", "uncertain", "always"],
                   help="acoustic rescoring mode (overrides rescoring.mode)")
    add_decision_arguments(p)
    p.add_argument("--csv", type=Path, metavar="OUT", help="write one row per file to this CSV")
    p.add_argument("--json", action="store_true", help="print the summary and every file as JSON")
    p.add_argument("--failures", type=int, default=20, metavar="N", help="list up to N failed files (default 20)")
    p.add_argument("--offsets", type=int, default=1, metavar="N",
                   help="per clip: play every clip N times, at N places on the VAD's 32 ms grid (delayed by "
                        "k*512/N samples of silence; default 1, the files as they are)")
    _add_stream_arguments(p)
    p.set_defaults(func=eval_command)

    s = subparsers.add_parser("eval-set", help="build evaluation sets")
    sub = s.add_subparsers(dest="eval_set", metavar="ACTION")
    sub.required = True
    b = sub.add_parser(
        "build", help="render the synthetic labelled set with espeak-ng",
        description="Sample commands from the grammar (labels known by construction) and out-of-grammar "
                    "sentences, render them with several espeak-ng voices and speeds, and mix in white or "
                    "pink noise at 20, 10 and 5 dB SNR. Writes OUT_DIR/tune and OUT_DIR/heldout (disjoint "
                    "voices and sentences), each with WAVs and labels.json. Deterministic for a seed.")
    b.add_argument("out", type=Path, metavar="OUT_DIR")
    b.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    b.add_argument("--per-split", type=int, default=150, metavar="N", help="clips per split (default 150)")
    b.add_argument("--grammar", type=Path, action="append", metavar="FILE",
                   help="grammar to sample commands from (default: config/commands.yaml)")
    b.set_defaults(func=build_command)
    n = sub.add_parser(
        "negatives", help="render hours of non-command talk with espeak-ng (for bench false-accepts)",
        description="Speak everyday sentences (config/eval/chatter.yaml, minus any the command grammar accepts) "
                    "in many espeak-ng voices and speeds, with pauses, clean or with noise at 30/20/10 dB SNR, "
                    "into files of about --minutes each: OUT_DIR/tune and OUT_DIR/heldout (disjoint voices and "
                    "sentence templates), with files.json saying what was said when. Deterministic for a seed.")
    n.add_argument("out", type=Path, metavar="OUT_DIR")
    n.add_argument("--hours", type=float, default=1.0, help="hours of audio per split (default 1)")
    n.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    n.add_argument("--split", choices=["tune", "heldout", "both"], default="both", help="which split(s) (default both)")
    n.add_argument("--minutes", type=float, default=10.0, help="length of each file (default 10)")
    n.add_argument("--grammar", type=Path, action="append", metavar="FILE",
                   help="command grammar whose sentences are left out (default: config/commands.yaml)")
    n.set_defaults(func=negatives_command)
    h = sub.add_parser(
        "hazards", help="render hours of silence, steady noise, clicks and music (for bench false-accepts)",
        description="Render with numpy, into OUT_DIR/silence, noise, clicks and music, files of about --minutes "
                    "each: digital zero, dither, room floor and mains hum; white, pink, brown and fan noise up to "
                    "-10 dBFS; impulses, typing and knocking; melodies, chords, drums and a formant-filtered buzz "
                    "singing vowels. files.json lists every segment with its variant and level. Nothing in them "
                    "is a command. Deterministic for a seed.")
    h.add_argument("out", type=Path, metavar="OUT_DIR")
    h.add_argument("--hours", type=float, default=1.0, help="hours of audio per kind (default 1)")
    h.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    h.add_argument("--kind", choices=["silence", "noise", "clicks", "music"], action="append",
                   help="only this kind (repeatable; default all four)")
    h.add_argument("--minutes", type=float, default=10.0, help="length of each file (default 10)")
    h.set_defaults(func=hazards_command)


def add_decision_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decision", choices=["calibrated", "off"], help="overrides decision.mode")
    p.add_argument("--max-false-accepts-per-hour", type=float, metavar="R",
                   help="overrides decision.max_false_accepts_per_hour")


def _add_stream_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "stream", "--stream plays all clips as ONE continuous stream, as the daemon hears them: seeded random "
                  "order and gaps, background noise throughout, noise bursts and optional non-command audio "
                  "in the gaps; results are matched to clips by time")
    g.add_argument("--stream", action="store_true", help="evaluate one continuous stream instead of each file")
    g.add_argument("--gap-s", type=float, nargs=2, default=(2.0, 6.0), metavar=("MIN", "MAX"),
                   help="seconds between placed items (default 2 6)")
    g.add_argument("--noise", type=_snr, default=30.0, metavar="SNR_DB",
                   help="background noise over the whole stream, dB below the commands' speech level "
                        "(default 30; 'off' for none)")
    g.add_argument("--noise-color", choices=["pink", "white"], default="pink", help="generated noise (default pink)")
    g.add_argument("--noise-dir", type=Path, metavar="DIR", help="use these noise recordings instead of generated noise")
    g.add_argument("--negatives", type=Path, metavar="DIR",
                   help="non-command audio (WAVs) to put into every --negative-every'th gap; long files give excerpts")
    g.add_argument("--negative-every", type=int, default=7, metavar="N", help="(default 7)")
    g.add_argument("--burst-every", type=int, default=5, metavar="N",
                   help="a noise burst in every Nth gap (default 5; 0 for none)")
    g.add_argument("--seed", type=int, default=0, help="stream layout seed (default 0)")
    g.add_argument("--repeat", type=int, default=1, metavar="K", help="place every clip K times (default 1)")
    g.add_argument("--save-stream", type=Path, metavar="OUT.wav",
                   help="keep the stream as a WAV, with its layout (segments and sample spans) in OUT.json")


def _snr(text: str):
    if text.lower() in ("off", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of dB or 'off', got {text!r}") from None


def _grammar_paths(args: argparse.Namespace, config) -> list:
    if args.grammar:
        return [p.resolve() for p in args.grammar]
    if getattr(args, "config", None) is not None:
        return [Path(config.resolve(p)).resolve() for p in config.grammar.paths]  # absolute: resolved once
    if SHIPPED_GRAMMAR.is_file():
        return [SHIPPED_GRAMMAR]
    raise ConfigError([Problem("no grammar given", key="--grammar", hint="pass --grammar FILE or --config FILE")])


@dataclasses.dataclass
class EvalSetup:
    """What `voiced eval` and `voiced bench false-accepts` load once: config, grammar, model, pipeline."""

    config: Any
    grammar_paths: List[Path]
    grammar: Any
    matcher: Any
    files: Any
    threads: int
    pipeline: Any

    def meta(self) -> Dict[str, Any]:
        return {"grammar": [str(p) for p in self.grammar_paths], "model": self.files.name,
                "model_layout": self.files.layout, "threads": self.threads,
                "rescoring": self.config.rescoring.mode, "speculative": self.config.speculative,
                "decision": self.config.decision.mode,
                "max_false_accepts_per_hour": self.config.decision.max_false_accepts_per_hour}

    def title(self, what: str) -> str:
        return (f"{what} with {self.files.name} ({self.files.layout}), {self.threads} thread(s), grammar "
                f"{', '.join(p.name for p in self.grammar_paths)}, rescoring {self.config.rescoring.mode}, decision "
                f"{self.config.decision.mode}")


def prepare(args: argparse.Namespace, check: Optional[Callable[[Any], None]] = None) -> EvalSetup:
    """Config (with --grammar/--rescoring/--threads/--model applied), grammar and the daemon's
    stages. `check(grammar)` runs before the model loads, so label errors come out first."""
    from voiced.asr.models import resolve_model
    from voiced.config import load_config
    from voiced.daemon import load_matcher
    from voiced.evaluation.runner import EvalPipeline
    from voiced.paths import models_dir
    from voiced.runtime.threads import plan_for_config

    config = load_config(args.config)
    grammar_paths = _grammar_paths(args, config)
    config = dataclasses.replace(config, grammar=dataclasses.replace(
        config.grammar, paths=[str(p) for p in grammar_paths]))
    if args.rescoring is not None:
        config = dataclasses.replace(config, rescoring=dataclasses.replace(config.rescoring, mode=args.rescoring))
    if getattr(args, "decision", None) is not None:
        config = dataclasses.replace(config, decision=dataclasses.replace(config.decision, mode=args.decision))
    if getattr(args, "max_false_accepts_per_hour", None) is not None:
        config = dataclasses.replace(config, decision=dataclasses.replace(
            config.decision, max_false_accepts_per_hour=args.max_false_accepts_per_hour))
    grammar, matcher = load_matcher(config)
    if check is not None:
        check(grammar)
    model_config = config.model
    if args.threads is not None:
        model_config = dataclasses.replace(model_config, intra_op_threads=max(1, args.threads))
    _, plan = plan_for_config(model_config)
    model_path = args.model.resolve() if args.model is not None else config.resolve(config.model.path)
    files = resolve_model(model_path, models_dir(), origin="--model" if args.model else "config")
    pipeline = EvalPipeline(config, matcher, files, plan.asr, plan.vad.intra_op_threads)
    return EvalSetup(config, grammar_paths, grammar, matcher, files, plan.asr.intra_op_threads, pipeline)


def eval_command(args: argparse.Namespace) -> int:
    from voiced.evaluation import report
    from voiced.evaluation.labels import load_labels, validate_labels
    from voiced.evaluation.runner import acceptance_by_offset, collect_items, run_items
    from voiced.evaluation.scoring import summarize

    if not 1 <= args.offsets <= 512 or (args.stream and args.offsets > 1):
        raise ConfigError([Problem("--offsets must be 1 to 512, and 1 with --stream", key="--offsets",
                                   hint="a stream already places every clip at its own offset")])
    labels = load_labels(args.labels)
    found: Dict[str, Any] = {}

    def check(grammar: Any) -> None:
        validate_labels(labels, grammar, args.labels)
        found["items"], absent = collect_items(args.dir, labels, args.labels)
        if absent:
            log.warning("%d labelled file(s) are not in %s, e.g. %s", len(absent), args.dir, absent[0])

    setup = prepare(args, check)
    items, pipeline = found["items"], setup.pipeline
    stream_text = ""
    if args.stream:
        from voiced.evaluation.stream_eval import clip_results, format_stream, run_stream, summarize_stream

        run = run_stream(pipeline, _build_stream(args, items), keep=args.save_stream)
        summary, results = summarize_stream(run), clip_results(run)
        stream_text = format_stream(summary)
    else:
        results = run_items(pipeline, items, report.Progress(sys.stderr), offsets=args.offsets)
        summary = summarize(results)
        if args.offsets > 1:
            summary["acceptance_by_offset"] = acceptance_by_offset(results, args.offsets)
    if args.csv is not None:
        report.write_csv(results, args.csv)
    meta = {"dir": str(args.dir), "labels": str(args.labels), **setup.meta(),
            "mode": "stream" if args.stream else "per clip", **({"offsets": args.offsets} if args.offsets > 1 else {})}
    if args.json:
        print(report.to_json(summary, results, meta))
    else:
        title = setup.title(f"{args.dir}" + (" as one stream" if args.stream else ""))
        print(report.format_summary(summary, title))
        if stream_text:
            print(stream_text)
        if args.failures > 0:
            text = report.format_failures(results, args.failures)
            if text:
                print(text)
        if args.csv is not None:
            print(f"\nper-file results: {args.csv}")
    return 0


def _build_stream(args: argparse.Namespace, items: list):
    from voiced.audio.wav import load_audio
    from voiced.evaluation.stream import StreamSettings, build_stream

    settings = StreamSettings(gap_s=tuple(args.gap_s), snr_db=args.noise, noise_color=args.noise_color,
                              burst_every=max(0, args.burst_every), negative_every=max(0, args.negative_every),
                              repeat=max(1, args.repeat), seed=args.seed)
    clips = [(item.name, load_audio(item.path), item.label) for item in items]
    negatives = [(p.name, load_audio(p)) for p in _wavs(args.negatives)] if args.negatives else []
    noise = [load_audio(p) for p in _wavs(args.noise_dir)] if args.noise_dir else []
    stream = build_stream(clips, settings, negatives, noise)
    log.info("stream of %.1f min: %d segments", stream.duration_s / 60, len(stream.segments))
    return stream


def _wavs(folder: Path) -> list:
    wavs = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".wav") if folder.is_dir() else []
    if not wavs:
        raise ConfigError([Problem("no WAV files found", file=str(folder), hint="pass a folder of WAV files")])
    return wavs


def build_command(args: argparse.Namespace) -> int:
    from voiced.evaluation.report import Progress
    from voiced.evaluation.synth import build_eval_set
    from voiced.grammar.loader import load_grammar

    paths = [p.resolve() for p in args.grammar] if args.grammar else [SHIPPED_GRAMMAR]
    grammar = load_grammar(paths)
    counts = build_eval_set(args.out, grammar, seed=args.seed, per_split=args.per_split,
                            progress=Progress(sys.stderr))
    for split, (commands, rejects) in counts.items():
        print(f"{args.out / split}: {commands} commands, {rejects} out-of-grammar clips, labels in "
              f"{args.out / split / 'labels.json'}")
    return 0


def negatives_command(args: argparse.Namespace) -> int:
    from voiced.evaluation.negatives import build_negatives
    from voiced.evaluation.report import Progress
    from voiced.grammar.loader import load_grammar

    if not 0 < args.hours <= 100 or not 0.5 <= args.minutes <= 120:
        raise ConfigError([Problem("--hours must be in (0, 100] and --minutes in [0.5, 120]", key="--hours")])
    grammar = load_grammar([p.resolve() for p in args.grammar] if args.grammar else [SHIPPED_GRAMMAR])
    splits = ("tune", "heldout") if args.split == "both" else (args.split,)
    counts = build_negatives(args.out, grammar, args.hours, seed=args.seed, splits=splits, minutes=args.minutes,
                             progress=Progress(sys.stderr))
    for split, (files, hours) in counts.items():
        print(f"{args.out / split}: {files} files, {hours:.2f} h; what was said when: {args.out / split / 'files.json'}")
    return 0


def hazards_command(args: argparse.Namespace) -> int:
    from voiced.evaluation.hazards import KINDS, build_hazards
    from voiced.evaluation.report import Progress

    if not 0 < args.hours <= 100 or not 0.1 <= args.minutes <= 120:
        raise ConfigError([Problem("--hours must be in (0, 100] and --minutes in [0.1, 120]", key="--hours")])
    kinds = [k for k in KINDS if k in args.kind] if args.kind else list(KINDS)
    counts = build_hazards(args.out, args.hours, seed=args.seed, kinds=kinds, minutes=args.minutes,
                           progress=Progress(sys.stderr))
    for kind, (files, hours) in counts.items():
        print(f"{args.out / kind}: {files} files, {hours:.2f} h; segments: {args.out / kind / 'files.json'}")
    return 0

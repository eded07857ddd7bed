"""`voiced bench false-accepts DIR [DIR ...]`: false accepts per hour of non-command audio, and a DET table."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

log = logging.getLogger(__name__)


def register_bench(bench_subparsers) -> None:
    from voiced.commands.evaluate import add_decision_arguments

    p = bench_subparsers.add_parser(
        "false-accepts", help="false accepts per hour of non-command audio (and a DET table with --labels)",
        description="Play every WAV in the folders through the daemon's path (VAD, endpointer, recogniser, "
                    "matcher, rescoring), each file as one continuous stream, as fast as the machine allows. "
                    "Every intent published on a folder with no labels is a false accept. Folders whose WAVs "
                    "are all named in a --labels file are command sets: played per clip, they give "
                    "acceptance, and a threshold swept over the published confidence gives a DET table.")
    p.add_argument("dirs", type=Path, nargs="+", metavar="DIR", help="folders of WAVs (searched recursively)")
    p.add_argument("--labels", type=Path, action="append", default=[], metavar="F",
                   help="labels of a command set among the DIRs (repeatable; keys relative to the set's folder)")
    p.add_argument("--grammar", type=Path, action="append", metavar="FILE",
                   help="command grammar (repeatable; default: the config's, else config/commands.yaml)")
    p.add_argument("--config", type=Path, help="config file (VAD, model, matching settings); default: built-in")
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (overrides model.path)")
    p.add_argument("--threads", type=int, metavar="N", help="recogniser intra-op threads (default: planned)")
    p.add_argument("--rescoring", choices=["off", "uncertain", "always"], help="overrides rescoring.mode")
    add_decision_arguments(p)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="draw the DET curve (needs the eval extra)")
    p.add_argument("--list", type=int, default=30, metavar="N", help="print up to N false accepts (default 30)")
    p.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from voiced.commands.evaluate import prepare
    from voiced.evaluation.false_accepts import det, format_det, play_negatives, plot_det, split_sets
    from voiced.evaluation.report import Progress

    labels, sets = _load_labels(args.labels)
    found: Dict[str, Any] = {}

    def check(grammar: Any) -> None:
        from voiced.evaluation.labels import validate_labels

        for path, entries in sets:
            validate_labels(entries, grammar, path)
        found["negatives"], found["labelled"] = split_sets(args.dirs, labels)

    setup = prepare(args, check)
    negatives, labelled = found["negatives"], found["labelled"]
    run = play_negatives(setup.pipeline, negatives, Progress(sys.stderr))
    out: Dict[str, Any] = {**setup.meta(), "dirs": [str(d) for d in args.dirs], "files": run.files,
                           "hours": round(run.hours, 6), "wall_s": round(run.wall_s, 1),
                           "speed": round(run.audio_s / run.wall_s, 1) if run.wall_s else None,
                           "utterances": run.utterances,
                           "transcripts": [[text, count] for text, count in run.top_transcripts()],
                           "compute_s": {k: round(v, 1) for k, v in sorted(run.compute_s.items())},
                           "false_accepts": len(run.rows),
                           "per_hour": run.per_hour, "false_accept_list": run.rows,
                           "held_back": len(run.held_back), "held_back_list": run.held_back}
    if labelled:
        out.update(_commands(setup.pipeline, labelled, labels))
        out["det"] = det(out.pop("_scores"), [r["confidence"] for r in run.rows], run.hours)
        if args.plot is not None:
            plot_det(out["det"], args.plot, setup.title(f"{run.hours:.2f} h of negatives"))
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(_text(out, setup.title(f"{run.files} file(s), {run.hours:.2f} h"), args.list))
        if "det" in out:
            print("\n" + format_det(out["det"]))
        if args.plot is not None and "det" in out:
            print(f"\nDET plot: {args.plot}")
    return 0


def _load_labels(paths: List[Path]):
    from voiced.evaluation.labels import load_labels

    labels: Dict[str, Any] = {}
    sets = []
    for path in paths:
        entries = load_labels(path)
        sets.append((path, entries))
        labels.update(entries)
    return labels, sets


def _commands(pipeline: Any, labelled: list, labels: Dict[str, Any]) -> Dict[str, Any]:
    """Per-clip run of the command sets: acceptance, and false accepts on clips labelled null."""
    from voiced.evaluation.false_accepts import command_scores
    from voiced.evaluation.report import Progress
    from voiced.evaluation.runner import Item, run_items
    from voiced.evaluation.scoring import summarize

    started = time.perf_counter()
    results = run_items(pipeline, [Item(name, path, labels[name]) for path, name in labelled], Progress(sys.stderr))
    s = summarize(results)
    return {"commands": {"clips": s["files"], "in_grammar": s["in_grammar"], "accepted": s["accepted"],
                         "acceptance": s["acceptance"], "to_reject": s["out_of_grammar"],
                         "clip_false_accepts": s["false_accepts"], "errors": s["errors"],
                         "wall_s": round(time.perf_counter() - started, 1)},
            "_scores": command_scores(results)}


def _text(out: Dict[str, Any], title: str, limit: int) -> str:
    per_hour = "n/a" if out["per_hour"] is None else f"{out['per_hour']:.2f}"
    lines = [title,
             f"audio                 {out['hours']:.3f} h in {out['wall_s']:.0f} s ({out['speed']}x real time), "
             f"{out['utterances']} utterances; compute " + ", ".join(f"{k} {v:.0f} s" for k, v in out["compute_s"].items()),
             f"false accepts         {out['false_accepts']} ({per_hour} per hour)"]
    if out["transcripts"]:
        lines.insert(2, "heard most often      " + ", ".join(f"{t!r} x{c}" for t, c in out["transcripts"][:8]))
    for row in out["false_accept_list"][:limit]:
        lines.append(f"  {Path(row['file']).name} {row['start_s']:.1f}-{row['end_s']:.1f} s: heard {row['text']!r} -> "
                     f"{row['intent']} {row['slots'] or ''} ({row['confidence']:.2f}, {row['decided_by']})")
    if len(out["false_accept_list"]) > limit:
        lines.append(f"  ... {len(out['false_accept_list']) - limit} more (--json lists all)")
    if out["held_back"]:
        lines.append(f"held back by the gate {out['held_back']}")
        for held in out["held_back_list"][:limit]:
            lines.append(f"  {Path(held['file']).name} {held['start_s']:.1f}-{held['end_s']:.1f} s: heard "
                         f"{held['text']!r}, {held['reason']}")
    c = out.get("commands")
    if c:
        acc = "n/a" if c["acceptance"] is None else f"{100 * c['acceptance']:.1f}%"
        lines.append(f"commands (per clip)   {acc} accepted ({c['accepted']}/{c['in_grammar']}); "
                     f"{c['clip_false_accepts']} of {c['to_reject']} clips to reject accepted")
    return "\n".join(lines)

"""`voiced calibrate collect|fit`: gather the decision's data on the daemon's path, and fit it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="fit the calibrated accept/reject decision")
    sub = p.add_subparsers(dest="calibrate", metavar="ACTION")
    sub.required = True
    c = sub.add_parser(
        "collect", help="play command sets and negatives through the daemon's path and keep every reading",
        description="Play labelled command sets per clip and folders of non-command audio as streams through "
                    "the daemon's path (decision off), and write every reading with its features and whether "
                    "it was right, for `voiced calibrate fit`. Use tuning splits only.")
    c.add_argument("--commands", nargs=2, action="append", default=[], metavar=("DIR", "LABELS"),
                   help="a labelled command set (repeatable)")
    c.add_argument("--negatives", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder of WAVs with no command in them (repeatable)")
    c.add_argument("--out", type=Path, required=True, metavar="DATA.json", help="where to write the readings")
    for name, kwargs in (("--grammar", dict(type=Path, action="append", metavar="FILE", help="command grammar")),
                         ("--config", dict(type=Path, help="config file")),
                         ("--model", dict(type=Path, metavar="DIR", help="model directory")),
                         ("--threads", dict(type=int, metavar="N", help="recogniser intra-op threads")),
                         ("--rescoring", dict(choices=["off", "uncertain", "always"], help="rescoring.mode"))):
        c.add_argument(name, **kwargs)  # type: ignore[arg-type]
    c.set_defaults(func=collect_command, decision="off")
    f = sub.add_parser(
        "fit", help="fit the decision on collected readings and write a calibration file",
        description="Fit a logistic model on the readings of `voiced calibrate collect` (right readings of "
                    "commands against everything else), compute the tuning curve (acceptance and false "
                    "accepts per hour against the threshold) and write the calibration with what it was "
                    "fitted on.")
    f.add_argument("data", type=Path, nargs="+", metavar="DATA.json")
    f.add_argument("--out", type=Path, required=True, metavar="CALIBRATION.json")
    f.add_argument("--mode", choices=["decide", "gate"], default="decide",
                   help="decide: the probability accepts or rejects a rescored reading on its own; gate: it only "
                        "rejects what the rescoring gaps accepted (default decide)")
    f.add_argument("--l2", type=float, default=1.0, help="ridge penalty of the fit (default 1)")
    f.add_argument("--about", default="", metavar="TEXT", help="what the data is, kept in the file")
    f.set_defaults(func=fit_command)


def collect_command(args: argparse.Namespace) -> int:
    from voiced.commands.evaluate import prepare
    from voiced.decision.collect import collect_commands, collect_negatives
    from voiced.decision import model_id
    from voiced.evaluation.labels import load_labels, validate_labels
    from voiced.evaluation.report import Progress
    from voiced.evaluation.runner import collect_items

    sets = [(Path(d), load_labels(Path(f)), Path(f)) for d, f in args.commands]

    def check(grammar: Any) -> None:
        for _, labels, path in sets:
            validate_labels(labels, grammar, path)

    setup = prepare(args, check)
    described: List[Dict[str, Any]] = []
    rows: List[Dict[str, Any]] = []
    for directory, labels, path in sets:
        items, _ = collect_items(directory, labels, path)
        about, got = collect_commands(setup.pipeline, str(directory), items, Progress(sys.stderr))
        described.append(about)
        rows += got
    for folder in args.negatives:
        wavs = sorted(p for p in Path(folder).rglob("*.wav") if p.is_file())
        about, got = collect_negatives(setup.pipeline, str(folder), wavs, Progress(sys.stderr))
        described.append(about)
        rows += got
    data = {"model": model_id(setup.pipeline.processor.transcriber), "meta": setup.meta(), "sets": described,
            "rows": rows}
    args.out.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    right = sum(r["y"] for r in rows)
    print(f"{len(rows)} readings ({right} right) from {len(described)} set(s) -> {args.out}")
    return 0


def fit_command(args: argparse.Namespace) -> int:
    from voiced.decision.fit import fit_calibration, load_data, summary

    data = load_data(args.data)
    calibration = fit_calibration(data, mode=args.mode, l2=args.l2, about=args.about,
                                  command=" ".join(["voiced"] + [a for a in sys.argv[1:] if a != args.about]))
    args.out.write_text(calibration.to_json(), encoding="utf-8")
    print(summary(calibration))
    print(f"-> {args.out}")
    return 0

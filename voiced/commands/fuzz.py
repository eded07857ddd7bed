"""`voiced bench fuzz`: feed the config, grammar and WAV readers broken inputs and count crashes.

A reader may accept an input or reject it with the project's own error (ConfigError,
GrammarError, AudioError); anything else is a crash, grouped by exception type and the
innermost frame that raised it. Inputs come from voiced.bench.fuzzing, the same generators the
test suite uses, seeded so a run can be repeated; each input has a time limit, so an input
that makes a reader hang is reported as a crash instead of stalling the run.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import random
import signal
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

log = logging.getLogger(__name__)


class InputTimeout(Exception):
    """Raised inside a reader that took longer than --timeout on one input."""


def register_bench(bench_subparsers) -> None:
    p = bench_subparsers.add_parser(
        "fuzz", help="crashes per cause on generated broken config, grammar and WAV inputs",
        description="Generates broken inputs from the shipped config and command set (wrong types, lists as "
                    "keys, tags, NaN, deep nesting, alias bombs, odd encodings) and WAV headers, reads each the "
                    "way voiced does (a grammar is also compiled and matched), and prints inputs per second, "
                    "crashes per cause and how many inputs each project error rejected.")
    p.add_argument("--count", type=int, default=1000, metavar="N", help="inputs to run (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="input i is made from Random(f'{seed}:{i}') (default 0)")
    p.add_argument("--kind", choices=["grammar", "config", "wav", "all"], default="all",
                   help="which reader to feed (default: all, in turn)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds one input may take before it counts as a crash (default 10)")
    p.add_argument("--save", type=Path, metavar="DIR", help="write the first input of each crash cause here")
    p.set_defaults(func=bench_command)


@dataclass
class _Tally:
    outcomes: Dict[str, Counter]
    crashes: Counter = field(default_factory=Counter)
    first: Dict[str, Tuple[int, str]] = field(default_factory=dict)  # cause -> (input number, kind)
    done: int = 0


def bench_command(args: argparse.Namespace) -> int:
    from voiced.bench.fuzzing import KINDS

    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    tally = _Tally({k: Counter() for k in kinds})
    start = time.perf_counter()
    quiet = contextlib.ExitStack()
    if not args.verbose:  # readers warn about odd inputs (NaN samples, overflowing casts): every input is odd
        logging.disable(logging.WARNING)
        quiet.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
    try:
        with quiet:
            _run(args, kinds, tally)
    except KeyboardInterrupt:
        print(f"interrupted after {tally.done} inputs", flush=True)
    finally:
        logging.disable(logging.NOTSET)
    for line in _report(args, tally, time.perf_counter() - start):
        print(line, flush=True)
    return 0


def _run(args: argparse.Namespace, kinds: List[str], tally: _Tally) -> None:
    from voiced.bench.fuzzing import Inputs, outcome

    inputs = Inputs()
    with tempfile.TemporaryDirectory(prefix="voiced-fuzz-") as tmp:
        scratch = Path(tmp) / "input.wav"
        for i in range(args.count):
            kind = kinds[i % len(kinds)]
            data = inputs.make(kind, random.Random(f"{args.seed}:{i}"))
            try:
                with _deadline(args.timeout):
                    result, exc = outcome(kind, data, scratch)
            except InputTimeout as late:  # expired after the reader returned, before the timer was stopped
                result, exc = "crash", late
            tally.outcomes[kind][result] += 1
            tally.done += 1
            if exc is not None:
                cause = _cause(exc)
                tally.crashes[cause] += 1
                if cause not in tally.first:
                    tally.first[cause] = (i, kind)
                    _save(args.save, len(tally.first), kind, data)
                    log.info("input %d (%s): %s", i, kind, cause)


def _report(args: argparse.Namespace, tally: _Tally, elapsed: float) -> Iterator[str]:
    yield (f"fuzz: {tally.done} inputs (kind {args.kind}, seed {args.seed}) in {elapsed:.1f} s: "
           f"{tally.done / max(elapsed, 1e-9):.1f} inputs/s")
    for kind, counts in tally.outcomes.items():
        parts = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()) if name != "crash")
        yield f"  {kind:8} {sum(counts.values()):7} inputs: {parts or 'none'}, {counts['crash']} crashes"
    yield f"crashes: {sum(tally.crashes.values())}"
    for cause, n in tally.crashes.most_common():
        index, kind = tally.first[cause]
        yield f"  {n:7}  {cause}  (first: {kind} input {index})"


def _cause(exc: BaseException) -> str:
    """Exception type and the innermost frame, as path:line relative to site-packages or the checkout."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = "?"
    if frames:
        path = frames[-1].filename
        for marker in ("site-packages/", "/voiced/"):
            if marker in path:
                path = ("voiced/" if marker == "/voiced/" else "") + path.split(marker, 1)[1]
                break
        where = f"{path}:{frames[-1].lineno}"
    return f"{type(exc).__name__} at {where}"


def _save(folder: Optional[Path], number: int, kind: str, data: bytes) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".wav" if kind == "wav" else ".yaml"
        (folder / f"crash-{number:03d}-{kind}{suffix}").write_bytes(data)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise InputTimeout in the main thread when the block runs longer than `seconds` (0: no limit)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise InputTimeout(f"longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

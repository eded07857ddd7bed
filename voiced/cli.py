"""The `voiced` command line: one entry point, one module per group of subcommands.

Each module in COMMAND_MODULES has `register(subparsers)`, and may have
`register_bench(bench_subparsers)` for a `voiced bench NAME` benchmark. Command modules import
heavy dependencies (onnxruntime, numpy) inside their handlers, so `voiced --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import List, Optional

from voiced import __version__
from voiced.errors import EXIT_CONFIG, EXIT_FAILURE, ConfigError, GrammarError, VoicedError

COMMAND_MODULES = [
    "voiced.commands.asr",
    "voiced.commands.audio",
    "voiced.commands.grammar",
    "voiced.commands.board",
    "voiced.commands.daemon",
    "voiced.commands.models",
    "voiced.commands.evaluate",
    "voiced.commands.export",
    "voiced.commands.rescoring",
    "voiced.commands.bench_e2e",
    "voiced.commands.fuzz",
    "voiced.commands.bench_false_accepts",
    "voiced.commands.calibrate",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voiced", description="Offline voice commands to MQTT.")
    parser.add_argument("--version", action="version", version=f"voiced {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    bench = sub.add_parser("bench", help="benchmarks that print numbers")
    bench_sub = bench.add_subparsers(dest="bench", metavar="NAME")
    bench_sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module
                raise
            continue
        if hasattr(module, "register"):
            module.register(sub)
        if hasattr(module, "register_bench"):
            module.register_bench(bench_sub)
    for command in _leaves(sub):
        # The README promises -v on every command, and people type it after the subcommand too.
        command.add_argument("-v", "--verbose", action="count", default=0, dest="verbose_after",
                             help="more logging (-vv for debug)")
    return parser


def _leaves(sub) -> List[argparse.ArgumentParser]:
    """Every parser that runs a command, nested groups (`bench NAME`, `eval-set build`) included."""
    found = []
    for parser in dict.fromkeys(sub.choices.values()):  # aliases map to the same parser
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        found.extend(_leaves(nested[0]) if nested else [parser])
    return found


# syslog priorities (sd-daemon(3)): journald reads a leading <N>, so `journalctl -p warning` works.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """`<4>voiced.mqtt.link: ...` under systemd: the priority prefix instead of the level name."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>" + super().format(record)


def setup_logging(verbosity: int, journal: bool = False) -> None:
    """Log to stderr; with `journal` (stderr is connected to journald) in journald's own format."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter("%(name)s: %(message)s") if journal
                         else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # systemd sets JOURNAL_STREAM when stderr goes to the journal (systemd.exec(5)).
    setup_logging(args.verbose + getattr(args, "verbose_after", 0), journal=bool(os.environ.get("JOURNAL_STREAM")))
    try:
        return int(args.func(args) or 0)
    except (ConfigError, GrammarError) as exc:
        print(f"voiced: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except VoicedError as exc:
        print(f"voiced: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130

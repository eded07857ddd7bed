"""The `voiced` command line: one entry point, one module per group of subcommands.

Each module in COMMAND_MODULES has `register(subparsers)`, and may have
`register_bench(bench_subparsers)` for a `voiced bench NAME` benchmark. Command modules import
heavy dependencies (onnxruntime, numpy) inside their handlers, so `voiced --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
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
    return parser


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
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

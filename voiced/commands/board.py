"""`voiced info` (board, cores, thread plan, model, versions) and `voiced tune` (benchmark
thread counts and affinity on this board, then write the best into the config)."""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from voiced.errors import ConfigError, Problem, VoicedError

# A short command is about a dozen tokens; tune ranks settings by the latency of one:
# encoding 3 s of audio plus this many decoder steps.
TOKENS_PER_COMMAND = 12
# Prefer fewer threads when they are within this fraction of the fastest (leaves CPU free).
TIE_FRACTION = 0.05


def register(sub) -> None:
    info = sub.add_parser("info", help="show the board, the thread plan, the model and versions")
    _common(info)
    info.set_defaults(func=cmd_info)
    tune = sub.add_parser("tune", help="benchmark thread settings on this board and store the best")
    _common(tune)
    tune.add_argument("--model", help="model directory (default: the configured or default model)")
    tune.add_argument("--threads", help="comma-separated thread counts to try (default: 1 to the big cores)")
    tune.add_argument("--repeats", type=int, default=3, help="runs per setting (default 3)")
    tune.add_argument("--write", action="store_true", help="write the best without asking")
    tune.set_defaults(func=cmd_tune)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="config file (YAML)")
    parser.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)  # captured trees


def _load(args):
    from voiced.config import Config, load_config

    return load_config(args.config) if args.config else Config()


# --- voiced info ------------------------------------------------------------------------

def cmd_info(args) -> int:
    from voiced.runtime.board import detect_board, format_cpu_list
    from voiced.runtime.threads import plan_threads

    config = _load(args)
    board = detect_board(args.root)
    plan = plan_threads(board, config.model)
    print(f"board:       {board.name} ({board.arch})")
    print(f"cores:       {board.core_summary()}")
    print(f"big cores:   {format_cpu_list(board.big)}   other: {format_cpu_list(board.little)}")
    print(f"dot-product: {'yes' if board.has_dotprod else 'no'}"
          f" ({'asimddp' if board.is_arm else 'VNNI'}: int8 kernels {'available' if board.has_dotprod else 'absent'})")
    print(f"plan:        {plan.describe()}")
    print(f"             because {plan.reason}")
    print(f"model:       {_model_line(config)}")
    print(f"versions:    {_versions()}")
    return 0


def _model_line(config) -> str:
    from voiced.asr.models import resolve_model
    from voiced.errors import ModelError

    try:
        files = resolve_model(config.resolve(config.model.path))
    except ModelError as exc:
        return f"none usable: {exc}"
    return f"{files.name} ({files.layout}) in {files.directory} [{files.source}]"


def _versions() -> str:
    from voiced import __version__

    parts = [f"voiced {__version__}"]
    for name in ("onnxruntime", "numpy"):
        try:
            parts.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            parts.append(f"{name} missing")
    parts.append(f"python {platform.python_version()}")
    return ", ".join(parts)


# --- voiced tune ------------------------------------------------------------------------

def candidates(board, threads: Optional[List[int]] = None) -> List[Tuple[int, Optional[Tuple[int, ...]]]]:
    """(threads, affinity) pairs worth measuring: 1..big cores, each unpinned and pinned."""
    from voiced.runtime.threads import affinity_supported

    big = board.big or tuple(c.id for c in board.cores)
    counts = threads or list(range(1, len(big) + 1))
    out: List[Tuple[int, Optional[Tuple[int, ...]]]] = []
    for n in counts:
        out.append((n, None))
        if n > 1 and n - 1 <= len(big) and board.is_arm and affinity_supported():
            out.append((n, tuple(big[-(n - 1):])))
    return out


def score(result: Dict[str, float]) -> float:
    """Milliseconds for a typical short command: encode 3 s + TOKENS_PER_COMMAND decoder steps."""
    per_token = result.get("int8_decode_ms_per_token", result["decode_ms_per_token"])  # the step it decodes on
    return result["encode_3s_ms"] + TOKENS_PER_COMMAND * per_token


def pick_best(rows: List[Tuple[int, Optional[Tuple[int, ...]], Dict[str, float]]]):
    fastest = min(score(r[2]) for r in rows)
    close = [r for r in rows if score(r[2]) <= fastest * (1 + TIE_FRACTION)]
    return min(close, key=lambda r: (r[0], r[1] is not None, score(r[2])))


def cmd_tune(args) -> int:
    from voiced.asr.benchmark import measure_asr
    from voiced.asr.models import resolve_model
    from voiced.asr.sessions import SessionSettings
    from voiced.runtime.board import detect_board, format_cpu_list

    config = _load(args)
    board = detect_board(args.root)
    files = resolve_model(args.model or config.resolve(config.model.path))
    counts = _parse_counts(args.threads) if args.threads else None
    print(f"{board.name}: {board.core_summary()}; model {files.name}")
    print(f"{'threads':>7} {'pinned to':>10} {'encode 3s ms':>13} {'decode ms/tok':>14} {'rtf':>6} {'score ms':>9}")
    rows = []
    for threads, affinity in candidates(board, counts):
        settings = SessionSettings(intra_op_threads=threads, inter_op_threads=config.model.inter_op_threads,
                                   affinity=affinity, spinning=config.model.spinning)
        result = measure_asr(files, settings, repeats=args.repeats)
        rows.append((threads, affinity, result))
        print(f"{threads:>7} {format_cpu_list(affinity) if affinity else '-':>10} {result['encode_3s_ms']:>13.1f}"
              f" {result['decode_ms_per_token']:>14.2f} {result['rtf']:>6.3f} {score(result):>9.1f}", flush=True)
    threads, affinity, result = pick_best(rows)
    pinned = f" pinned to {format_cpu_list(affinity)}" if affinity else ""
    print(f"best: {threads} thread(s){pinned} ({score(result):.0f} ms per {TOKENS_PER_COMMAND}-token command"
          f" on 3 s of audio); ties within {TIE_FRACTION:.0%} go to fewer threads")
    if args.config is None:
        print("no --config given: add to the model section by hand:")
        print(f"  intra_op_threads: {threads}\n  affinity: {list(affinity) if affinity else 'null'}")
        return 0
    if not args.write and not _confirm(f"write this into {args.config}? [y/N] "):
        print("not written")
        return 0
    write_model_settings(args.config, {"intra_op_threads": threads,
                                       "affinity": list(affinity) if affinity else None})
    print(f"wrote model.intra_op_threads and model.affinity to {args.config}")
    return 0


def _parse_counts(text: str) -> List[int]:
    try:
        counts = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise VoicedError(f"--threads {text!r}: give positive whole numbers, e.g. --threads 1,2,3")
    return counts


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print("not a terminal: pass --write to store the result")
        return False
    return input(prompt).strip().lower() in ("y", "yes")


# --- targeted YAML edit (keeps comments and the rest of the file) --------------------------

_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:(.*)$")


def _yaml_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def update_model_settings(text: str, values: Dict[str, object], name: str = "<config>") -> str:
    """Set keys of the top-level `model:` mapping in YAML text, changing only those lines."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _TOP_KEY.match(line) and
                  _TOP_KEY.match(line).group(1) == "model"), None)
    if start is None:
        block = "".join(f"  {k}: {_yaml_value(v)}\n" for k, v in values.items() if v is not None)
        sep = "" if not text or text.endswith("\n") else "\n"
        return text + sep + "model:\n" + block
    rest = _TOP_KEY.match(lines[start]).group(2).split("#")[0].strip()
    if rest:
        raise ConfigError([Problem("model is written inline; cannot update it in place", file=name,
                                   line=start + 1, key="model", hint="write it as an indented block")])
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    child_indent = "  "
    for line in lines[start + 1:end]:
        stripped = line.lstrip(" ")
        if stripped.strip() and not stripped.startswith("#"):
            child_indent = line[:len(line) - len(stripped)]
            break
    last_child = start
    for key, value in values.items():
        pattern = re.compile(rf"^{re.escape(child_indent)}{re.escape(key)}\s*:([^#\n]*)(#.*)?$")
        for i in range(start + 1, end):
            found = pattern.match(lines[i].rstrip("\n"))
            if found:
                comment = f"  {found.group(2)}" if found.group(2) else ""
                lines[i] = f"{child_indent}{key}: {_yaml_value(value)}{comment}\n"
                break
        else:
            if value is not None:
                for i in range(start + 1, end):
                    if lines[i].strip() and not lines[i].lstrip().startswith("#"):
                        last_child = i
                lines.insert(max(last_child, start) + 1, f"{child_indent}{key}: {_yaml_value(value)}\n")
                end += 1
    return "".join(lines)


def write_model_settings(path: Path, values: Dict[str, object]) -> None:
    """Update the config file in place (atomically), after checking the result still loads."""
    from voiced.config import load_config

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read config: {exc.strerror}", file=str(path))]) from None
    new = update_model_settings(text, values, str(path))
    load_config(path, text=new)  # raises ConfigError naming the file if the edit broke something
    tmp = path.with_name(f".{path.name}.tune")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)

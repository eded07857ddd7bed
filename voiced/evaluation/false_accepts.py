"""False accepts per hour: hours of non-command audio played through the daemon's path.

With no wake word, every intent the daemon publishes while nobody gave a command is a false
accept, and the rate that matters is per hour of what the microphone hears. Each file is one
continuous stream (VAD and endpointer run on through the whole file, as in the daemon), played
as fast as the machine allows. Labelled command sets, played per clip, give the other axis:
sweeping a threshold over the published confidence trades acceptance against false accepts
per hour (a DET table); threshold 0 is the shipped operating point (everything the daemon
publishes today).
"""
from __future__ import annotations

import logging
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from voiced.errors import ConfigError, Problem
from voiced.evaluation.labels import Label
from voiced.evaluation.scoring import FileResult, judge
from voiced.evaluation.stream_eval import HOUR_S, false_accept_row

log = logging.getLogger(__name__)

GRID = [0.0] + [round(0.5 + 0.02 * k, 2) for k in range(26)]  # 0 (shipped), then 0.50 ... 1.00


@dataclass
class NegativeRun:
    """What the negatives gave: every false accept (a dict row) and how much audio was played."""

    audio_s: float = 0.0
    wall_s: float = 0.0
    files: int = 0
    utterances: int = 0
    rows: List[Dict[str, Any]] = field(default_factory=list)
    compute_s: Dict[str, float] = field(default_factory=dict)
    """seconds spent per stage over all utterances (asr, match, rescore): where the wall time went"""
    held_back: List[Dict[str, Any]] = field(default_factory=list)
    """commands the hallucination gate held back (voiced.hallucination): what, why, where"""
    transcripts: Dict[str, int] = field(default_factory=dict)
    """how often each transcript was heard ("" when the recogniser said nothing): what the
    recogniser makes of audio the VAD let through, published or not"""

    def top_transcripts(self, n: int = 20) -> List[Tuple[str, int]]:
        return sorted(self.transcripts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    @property
    def hours(self) -> float:
        return self.audio_s / HOUR_S

    @property
    def per_hour(self) -> Optional[float]:
        return len(self.rows) / self.hours if self.audio_s else None


def split_sets(folders: Sequence[Path], labels: Dict[str, Label]) -> Tuple[List[Path], List[Tuple[Path, str]]]:
    """Negative WAVs (in a folder none of whose files is labelled) and labelled clips
    (path, labels key) of folders whose every WAV has a label. A folder mixing both is an error."""
    negatives: List[Path] = []
    labelled: List[Tuple[Path, str]] = []
    problems = []
    for folder in folders:
        wavs = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() == ".wav" and p.is_file())
        if not wavs:
            problems.append(Problem("no WAV files found", file=str(folder), hint="pass folders of WAV files"))
            continue
        names = [p.relative_to(folder).as_posix() for p in wavs]
        known = [n in labels for n in names]
        if all(known):
            labelled += list(zip(wavs, names))
        elif not any(known):
            negatives += wavs
        else:
            missing = names[known.index(False)]
            problems.append(Problem(f"{known.count(False)} of {len(names)} WAVs have no label, e.g. {missing}",
                                    file=str(folder), hint="label every file of a command set, or none "
                                                           "(a folder of negatives)"))
    if problems:
        raise ConfigError(problems)
    return negatives, labelled


def play_negatives(pipeline: Any, paths: Sequence[Path],
                   progress: Optional[Callable[[int, int, str], None]] = None) -> NegativeRun:
    """Play each file as one stream; every recognised result is a false accept."""
    run = NegativeRun()
    started = time.perf_counter()
    for k, path in enumerate(paths):
        if progress is not None:
            progress(k, len(paths), path.name)
        results, audio_s = pipeline.run_path(path)
        run.audio_s += audio_s
        run.files += 1
        run.utterances += len(results)
        for r in results:
            run.transcripts[r.text] = run.transcripts.get(r.text, 0) + 1
            for part, ms in r.latency_parts.items():
                if part != "total":
                    run.compute_s[part] = run.compute_s.get(part, 0.0) + ms / 1000.0
            if r.extra.get("held_back"):
                run.held_back.append({"text": r.text, "reason": r.reason, "file": str(path),
                                      "start_s": round(r.start_s, 2), "end_s": round(r.end_s, 2)})
            if r.recognized:
                run.rows.append(false_accept_row(r, None, file=str(path)))
                log.info("false accept in %s at %.1f s: %r -> %s", path.name, r.start_s, r.text, r.intent)
    run.wall_s = time.perf_counter() - started
    if progress is not None:
        progress(len(paths), len(paths), "")
    return run


def command_scores(results: Sequence[FileResult]) -> List[Tuple[bool, float]]:
    """Per labelled command: whether it was accepted, and the confidence it was published with."""
    out = []
    for r in results:
        if not r.label.in_grammar:
            continue
        verdict = judge(r)
        published = [u for u in r.utterances if u.recognized]
        out.append((verdict.correct, max((u.confidence for u in published), default=0.0)))
    return out


def det(commands: Sequence[Tuple[bool, float]], false_confidences: Sequence[float], hours: float,
        thresholds: Sequence[float] = GRID) -> List[Dict[str, Any]]:
    """Acceptance and false accepts per hour if only results with confidence >= threshold were
    published. The grid is extended by every false accept's confidence, where the curve moves."""
    points = sorted(set(thresholds) | {round(c, 3) for c in false_confidences if c > 0})
    table = []
    for t in points:
        accepted = sum(ok and conf >= t for ok, conf in commands)
        kept = sum(conf >= t for conf in false_confidences)
        table.append({"threshold": t, "acceptance": accepted / len(commands) if commands else None,
                      "per_hour": kept / hours if hours else None, "false_accepts": kept})
    return table


def format_det(table: Sequence[Dict[str, Any]]) -> str:
    """The DET table, one row per threshold where acceptance or false accepts change."""
    lines = [f"{'threshold':>10}{'acceptance':>12}{'FA / hour':>11}{'FA':>6}"]
    last = None
    for row in table:
        key = (row["acceptance"], row["false_accepts"])
        if key == last and row["threshold"] != 0.0:
            continue
        last = key
        acc = "n/a" if row["acceptance"] is None else f"{100 * row['acceptance']:.1f}%"
        ph = "n/a" if row["per_hour"] is None else f"{row['per_hour']:.2f}"
        mark = "  <- shipped" if row["threshold"] == 0.0 else ""
        lines.append(f"{row['threshold']:>10.3f}{acc:>12}{ph:>11}{row['false_accepts']:>6}{mark}")
    return "\n".join(lines)


def plot_det(table: Sequence[Dict[str, Any]], out: Path, title: str = "") -> None:
    """Write the DET curve as a PNG (matplotlib, from the `eval` extra)."""
    try:
        import matplotlib
    except ImportError:
        from voiced.errors import VoicedError

        raise VoicedError("--plot needs matplotlib: pip install 'voiced[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table if r["acceptance"] is not None and r["per_hour"] is not None]
    rows.sort(key=lambda r: (r["per_hour"], r["acceptance"]))  # along the curve, not by threshold
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    ax.plot([r["per_hour"] for r in rows], [100 * r["acceptance"] for r in rows], marker=".")
    shipped = next((r for r in rows if r["threshold"] == 0.0), None)
    if shipped is not None:
        ax.plot([shipped["per_hour"]], [100 * shipped["acceptance"]], "o", color="C3", markersize=9,
                label=f"shipped ({100 * shipped['acceptance']:.1f} %, {shipped['per_hour']:.2f} FA/h)")
        ax.legend(loc="lower right")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("false accepts per hour")
    ax.set_ylabel("commands accepted (%)")
    ax.set_title(textwrap.fill(title or "acceptance vs false accepts per hour", 70), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)

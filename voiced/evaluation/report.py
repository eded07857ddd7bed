"""Evaluation output: a console summary, a CSV row per file, and a progress bar on stderr."""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, TextIO

from voiced.evaluation.scoring import FileResult, judge

CSV_COLUMNS = ["file", "correct", "error", "expected_intent", "expected_slots", "got_intent", "got_slots",
               "utterances", "transcript", "reference", "confidence", "latency_ms", "reason", "decided_by", "tags"]


class Progress:
    """`[#####-----]  12/150  name` redrawn in place on a terminal; silent otherwise."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30, force: bool = False):
        self.stream = stream
        self.width = width
        self.enabled = force or (hasattr(stream, "isatty") and stream.isatty())
        self.started = time.monotonic()

    def __call__(self, done: int, total: int, name: str) -> None:
        if not self.enabled:
            return
        filled = int(self.width * done / total) if total else self.width
        elapsed = time.monotonic() - self.started
        eta = f" eta {elapsed / done * (total - done):4.0f}s" if 0 < done < total else ""
        line = f"[{'#' * filled}{'-' * (self.width - filled)}] {done:4d}/{total}{eta} {name}"
        self.stream.write("\r" + line[:100].ljust(100))
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _slots_json(slots: Dict[str, Any]) -> str:
    return json.dumps(slots, sort_keys=True, ensure_ascii=False) if slots else ""


def file_rows(results: Sequence[FileResult]) -> List[Dict[str, Any]]:
    """One dict per file: expected vs got, transcript, confidence, latency."""
    rows = []
    for r in results:
        v = judge(r)
        utts = r.utterances
        shown = next((u for u in utts if u.recognized), utts[0] if utts else None)
        rows.append({
            "file": r.name, "correct": v.correct, "error": v.error or "",
            "expected_intent": r.label.intent or "", "expected_slots": _slots_json(r.label.slots),
            "got_intent": shown.intent or "" if shown and shown.recognized else "",
            "got_slots": _slots_json(shown.slots) if shown and shown.recognized else "",
            "utterances": len(utts), "transcript": " | ".join(u.text for u in utts),
            "reference": r.label.transcript or "",
            "confidence": round(shown.confidence, 3) if shown else "",
            "latency_ms": round(max(u.latency_ms for u in utts), 1) if utts else "",
            "reason": shown.reason or "" if shown else "",
            "decided_by": shown.extra.get("decided_by", "") if shown else "",
            "tags": ";".join(f"{k}={val}" for k, val in sorted(r.label.tags.items())),
        })
    return rows


def write_csv(results: Sequence[FileResult], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(file_rows(results))


def _pct(rate: Optional[float]) -> str:
    return "   n/a" if rate is None else f"{100.0 * rate:5.1f}%"


def _ms(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def format_summary(s: Dict[str, Any], title: str = "") -> str:
    lines = [title] if title else []
    lines += [
        f"files                 {s['files']} ({s['in_grammar']} commands, {s['out_of_grammar']} to reject, "
        f"{s['audio_s']:.0f} s audio)",
        f"command acceptance    {_pct(s['acceptance'])}  ({s['accepted']}/{s['in_grammar']})",
        f"false accepts         {_pct(s['false_accept_rate'])}  ({s['false_accepts']}/{s['out_of_grammar']})",
        f"WER                   {_pct(s['wer'])}  ({s['wer_words']} reference words)",
        f"latency p50 / p95     {_ms(s['latency_p50_ms'])} / {_ms(s['latency_p95_ms'])}  "
        f"(endpoint -> result, {s['utterances']} utterances)",
    ]
    by_offset = s.get("acceptance_by_offset")
    if by_offset:
        lines.append("  at each offset      " + ", ".join(f"+{lead}: {_pct(rate)}" for lead, rate in by_offset.items()))
    parts = s.get("latency_parts_ms") or {}
    if parts:
        lines.append("  of which p50 / p95  " + ", ".join(
            f"{name} {_ms(v['p50'])} / {_ms(v['p95'])}" for name, v in parts.items()))
    if s["errors"]:
        lines.append("errors                " + ", ".join(f"{k} {n}" for k, n in s["errors"].items()))
    bad = {k: row for k, row in s["per_intent"].items() if row["errors"]}
    if bad:
        lines.append("")
        lines.append(f"{'intent':<24}{'n':>4}{'errors':>8}  kinds")
        for name, row in bad.items():
            kinds = ", ".join(f"{k} {n}" for k, n in row.items() if k not in ("n", "errors"))
            lines.append(f"{name:<24}{row['n']:>4}{row['errors']:>8}  {kinds}")
    slots = {k: row for k, row in s["per_slot"].items() if row["wrong"] or row["missing"] or row["extra"]}
    if slots:
        lines.append("")
        lines.append(f"{'slot':<24}{'n':>4}{'wrong':>7}{'missing':>9}{'extra':>7}")
        for name, row in slots.items():
            lines.append(f"{name:<24}{row['n']:>4}{row['wrong']:>7}{row['missing']:>9}{row['extra']:>7}")
    if s["confusion"]:
        lines.append("")
        lines.append("most frequent mistakes (expected -> got)")
        for c in s["confusion"][:12]:
            lines.append(f"  {c['count']:3d}  {c['expected']} -> {c['got']}")
    for tag, rows in s.get("by_tag", {}).items():
        lines.append("")
        lines.append(f"{'by ' + tag:<24}{'acceptance':>12}{'false acc.':>12}")
        for value, row in rows.items():
            lines.append(f"{value:<24}{_pct(row['acceptance']):>12}{_pct(row['false_accept_rate']):>12}")
    return "\n".join(lines)


def format_failures(results: Sequence[FileResult], limit: int = 20) -> str:
    """The files that went wrong, with what was heard: the first thing to read after a run."""
    rows = [r for r in file_rows(results) if not r["correct"]]
    if not rows:
        return ""
    lines = ["", "failed files"]
    for row in rows[:limit]:
        expected = row["expected_intent"] or "(reject)"
        lines.append(f"  {row['file']}: {row['error']}; expected {expected} {row['expected_slots']}, "
                     f"got {row['got_intent'] or '-'} {row['got_slots']}; heard {row['transcript']!r}")
    if len(rows) > limit:
        lines.append(f"  ... {len(rows) - limit} more in the CSV")
    return "\n".join(lines)


def to_json(summary: Dict[str, Any], results: Sequence[FileResult], meta: Dict[str, Any]) -> str:
    return json.dumps({**meta, "summary": summary, "files": file_rows(results)}, indent=2, ensure_ascii=False)

"""Gather the decision's training data: every reading the daemon's path proposes, with its
features and whether it is right.

Command sets are played per clip (a reading is right when its intent and slots equal the label
and the clip gave one utterance); folders of negatives are played file by file as continuous
streams, and every reading there is wrong. The rows keep what the rescoring gaps alone decided
(`recognized`), so a fit can be compared with them on the same data.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from voiced.evaluation.labels import Label
from voiced.evaluation.runner import Item, run_items
from voiced.evaluation.scoring import UtteranceResult, slot_errors

Progress = Optional[Callable[[int, int, str], None]]


def _row(u: UtteranceResult, where: str, file: str, right: bool) -> Optional[Dict[str, Any]]:
    decision = u.extra.get("decision") or {}
    feats = decision.get("features")
    if feats is None:
        return None
    reading = u.extra.get("reading") or {}
    return {"set": where, "file": file, "start_s": round(u.start_s, 2), "text": u.text, "y": int(right),
            "recognized": bool(u.recognized), "intent": reading.get("intent"), "slots": reading.get("slots", {}),
            "decided_by": u.extra.get("decided_by"), "features": feats}


def right_reading(label: Label, reading: Dict[str, Any]) -> bool:
    return (label.in_grammar and reading.get("intent") == label.intent
            and not slot_errors(label.slots, reading.get("slots", {})))


def collect_commands(pipeline: Any, name: str, items: Sequence[Item], progress: Progress = None
                     ) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Rows of one labelled set, played per clip, and the set's description."""
    started = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    for result in run_items(pipeline, items, progress):
        heard = [u for u in result.utterances if u.text.strip()]
        for u in heard:
            reading = u.extra.get("reading") or {}
            row = _row(u, name, result.name, len(heard) == 1 and right_reading(result.label, reading))
            if row is not None:
                row["clip_intent"] = result.label.intent
                rows.append(row)
    commands = sum(1 for it in items if it.label.in_grammar)
    return ({"name": name, "kind": "commands", "commands": commands, "to_reject": len(items) - commands,
             "wall_s": round(time.perf_counter() - started, 1)}, rows)


def collect_negatives(pipeline: Any, name: str, paths: Sequence[Path], progress: Progress = None
                      ) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Rows of one folder of non-command audio, each file one stream, and the set's description."""
    started = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    audio_s = 0.0
    for k, path in enumerate(paths):
        if progress is not None:
            progress(k, len(paths), path.name)
        results, seconds = pipeline.run_path(path)
        audio_s += seconds
        rows += [r for r in (_row(u, name, path.name, False) for u in results if u.text.strip()) if r is not None]
    if progress is not None:
        progress(len(paths), len(paths), "")
    return ({"name": name, "kind": "negatives", "hours": audio_s / 3600.0, "files": len(paths),
             "wall_s": round(time.perf_counter() - started, 1)}, rows)

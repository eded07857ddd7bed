"""Per-file verdicts and set-level figures: acceptance, false accepts, error breakdowns, WER, latency.

A labelled command is accepted when the file gave exactly one result (an utterance whose
transcript has words: the daemon publishes nothing for an empty one), it was recognised, and
its intent and slots equal the label (an unlabelled extra slot is an error too). A clip
labelled null is handled correctly when nothing in it was recognised.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from voiced.asr.wer import corpus_wer, normalize
from voiced.evaluation.labels import Label, Value

# Error kinds, in the order reports list them.
NO_SPEECH = "no speech"          # the VAD found no utterance
NO_WORDS = "no words"            # utterances found, but the recogniser heard no words in any
EXTRA_UTTERANCE = "extra utterance"  # more than one result in a one-command clip
REJECTED = "rejected"            # one result, not recognised
WRONG_INTENT = "wrong intent"
WRONG_SLOT = "wrong slot"
FALSE_ACCEPT = "false accept"    # out-of-grammar clip, something was recognised
ERROR_KINDS = (NO_SPEECH, NO_WORDS, EXTRA_UTTERANCE, REJECTED, WRONG_INTENT, WRONG_SLOT, FALSE_ACCEPT)


@dataclass
class UtteranceResult:
    """What the pipeline produced for one utterance of a file."""

    text: str
    recognized: bool
    intent: Optional[str] = None
    slots: Dict[str, Value] = field(default_factory=dict)
    confidence: float = 0.0
    start_s: float = 0.0
    end_s: float = 0.0
    latency_ms: float = 0.0
    """endpoint decision -> result when nothing ran early: recogniser finalize, match, rescoring"""
    latency_parts: Dict[str, float] = field(default_factory=dict)
    """the processor's own breakdown (ms), e.g. asr, match, rescore, total (wait after the endpoint)"""
    reason: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    """anything else the result carries (e.g. which path decided it), copied into the report"""


@dataclass
class FileResult:
    name: str
    label: Label
    utterances: List[UtteranceResult]
    audio_s: float = 0.0


@dataclass(frozen=True)
class Verdict:
    correct: bool
    error: Optional[str] = None
    got: str = ""
    """the outcome in one word: an intent name, "(rejected)", "(no speech)" or "(N utterances)" """
    slot_errors: Dict[str, str] = field(default_factory=dict)
    """slot name -> "wrong", "missing" or "extra" (only when the intent was right)"""


def same_value(expected: Value, got: Any) -> bool:
    """Numbers compare numerically (21 == 21.0); text after normalising case, digits and punctuation."""
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(got, numbers) and not isinstance(got, bool):
        return abs(float(expected) - float(got)) < 1e-6
    return normalize(str(expected)) == normalize(str(got))


def slot_errors(expected: Dict[str, Value], got: Dict[str, Any]) -> Dict[str, str]:
    errors: Dict[str, str] = {}
    for name, value in expected.items():
        if name not in got:
            errors[name] = "missing"
        elif not same_value(value, got[name]):
            errors[name] = "wrong"
    for name in got:
        if name not in expected:
            errors[name] = "extra"
    return errors


def judge(result: FileResult) -> Verdict:
    label, utts = result.label, result.utterances
    recognized = [u for u in utts if u.recognized]
    if not label.in_grammar:
        if recognized:
            return Verdict(False, FALSE_ACCEPT, recognized[0].intent or "")
        return Verdict(True, None, _outcome(utts))
    if not utts:
        return Verdict(False, NO_SPEECH, "(no speech)")
    # An utterance with an empty transcript, or one the hallucination gate held back (a breath
    # before the command heard as "You"), publishes nothing, so it is neither a result nor extra.
    heard = [u for u in utts if u.text.strip()]
    if not heard:
        return Verdict(False, NO_WORDS, "(no words)")
    published = [u for u in heard if u.extra.get("published", True)]
    if not published:
        return Verdict(False, REJECTED, "(rejected)")
    if len(published) > 1:
        return Verdict(False, EXTRA_UTTERANCE, f"({len(published)} utterances)")
    u = published[0]
    if not u.recognized:
        return Verdict(False, REJECTED, "(rejected)")
    if u.intent != label.intent:
        return Verdict(False, WRONG_INTENT, u.intent or "")
    errors = slot_errors(label.slots, u.slots)
    if errors:
        return Verdict(False, WRONG_SLOT, u.intent or "", errors)
    return Verdict(True, None, u.intent or "")


def _outcome(utts: Sequence[UtteranceResult]) -> str:
    if not utts:
        return "(no speech)"
    heard = [u for u in utts if u.text.strip()]
    return "(no words)" if not heard else "(rejected)" if len(heard) == 1 else f"({len(heard)} utterances)"


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


def _rate(num: int, den: int) -> Optional[float]:
    return num / den if den else None


def summarize(results: Sequence[FileResult]) -> Dict[str, Any]:
    """Set-level figures as a JSON-ready dict (keys say what they are; rates are 0-1)."""
    verdicts = [judge(r) for r in results]
    inside = [(r, v) for r, v in zip(results, verdicts) if r.label.in_grammar]
    outside = [(r, v) for r, v in zip(results, verdicts) if not r.label.in_grammar]
    accepted = sum(v.correct for _, v in inside)
    false_accepts = sum(not v.correct for _, v in outside)
    latencies = [u.latency_ms for r in results for u in r.utterances]
    errors = Counter(v.error for v in verdicts if v.error)
    summary: Dict[str, Any] = {
        "files": len(results),
        "in_grammar": len(inside),
        "out_of_grammar": len(outside),
        "accepted": accepted,
        "acceptance": _rate(accepted, len(inside)),
        "false_accepts": false_accepts,
        "false_accept_rate": _rate(false_accepts, len(outside)),
        "errors": {k: errors[k] for k in ERROR_KINDS if errors[k]},
        "per_intent": _per_intent(inside),
        "per_slot": _per_slot(inside),
        "confusion": _confusion(zip(results, verdicts)),
        "utterances": len(latencies),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "latency_parts_ms": _latency_parts(results),
        "audio_s": round(sum(r.audio_s for r in results), 3),
    }
    summary.update(_wer(results))
    tags = _by_tag(results, verdicts)
    if tags:
        summary["by_tag"] = tags
    return summary


def _latency_parts(results: Sequence[FileResult]) -> Dict[str, Dict[str, Optional[float]]]:
    """p50/p95 of each part of the processor's latency breakdown (asr, match, rescore, ...)."""
    parts: Dict[str, List[float]] = {}
    for r in results:
        for u in r.utterances:
            for name, ms in u.latency_parts.items():
                parts.setdefault(name, []).append(float(ms))
    return {name: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for name, v in sorted(parts.items())}


def _per_intent(inside) -> Dict[str, Dict[str, int]]:
    table: Dict[str, Dict[str, int]] = {}
    for r, v in inside:
        row = table.setdefault(r.label.intent, {"n": 0, "errors": 0})
        row["n"] += 1
        if v.error:
            row["errors"] += 1
            row[v.error] = row.get(v.error, 0) + 1
    return dict(sorted(table.items()))


def _per_slot(inside) -> Dict[str, Dict[str, int]]:
    """Slot errors are only counted where the intent was right; `n` counts every labelled use."""
    table: Dict[str, Dict[str, int]] = {}
    for r, v in inside:
        for name in r.label.slots:
            table.setdefault(name, {"n": 0, "wrong": 0, "missing": 0, "extra": 0})["n"] += 1
        for name, kind in v.slot_errors.items():
            table.setdefault(name, {"n": 0, "wrong": 0, "missing": 0, "extra": 0})[kind] += 1
    return dict(sorted(table.items()))


def _confusion(pairs) -> List[Dict[str, Any]]:
    """Most frequent (expected -> got) mistakes; slot mistakes show which slots were wrong."""
    counts: Counter = Counter()
    for r, v in pairs:
        if v.correct:
            continue
        got = v.got
        if v.error == WRONG_SLOT:
            got += " [" + ", ".join(f"{k} {e}" for k, e in sorted(v.slot_errors.items())) + "]"
        counts[(r.label.intent or "(reject)", got)] += 1
    return [{"expected": e, "got": g, "count": n} for (e, g), n in counts.most_common()]


def _wer(results: Sequence[FileResult]) -> Dict[str, Any]:
    pairs = [(r.label.transcript, " ".join(u.text for u in r.utterances))
             for r in results if r.label.transcript is not None]
    if not pairs:
        return {"wer": None, "wer_words": 0}
    total = corpus_wer(pairs)
    return {"wer": total.wer, "wer_words": total.words}


def _by_tag(results: Sequence[FileResult], verdicts: Sequence[Verdict]) -> Dict[str, Dict[str, Dict[str, Any]]]:
    out: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for r, v in zip(results, verdicts):
        for tag, value in r.label.tags.items():
            row = out.setdefault(tag, {}).setdefault(
                value, {"in_grammar": 0, "accepted": 0, "out_of_grammar": 0, "false_accepts": 0})
            if r.label.in_grammar:
                row["in_grammar"] += 1
                row["accepted"] += int(v.correct)
            else:
                row["out_of_grammar"] += 1
                row["false_accepts"] += int(not v.correct)
    for rows in out.values():
        for row in rows.values():
            row["acceptance"] = _rate(row["accepted"], row["in_grammar"])
            row["false_accept_rate"] = _rate(row["false_accepts"], row["out_of_grammar"])
    return {tag: dict(sorted(rows.items())) for tag, rows in sorted(out.items())}

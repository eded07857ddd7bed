"""Run labelled WAVs through the daemon's own processing path and collect what it would publish.

Each file is played by the daemon's FileSource (as fast as possible, in the configured block
size) into the Endpointer (Silero VAD), whose events drive the daemon's UtteranceProcessor
(recogniser, matcher, optional rescorer, speculation as configured). Only the publisher is
replaced: a sink keeps the results instead of sending them to MQTT. So a figure measured here
is what the daemon would have done.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.config import Config
from voiced.errors import ConfigError, Problem
from voiced.evaluation.labels import Label
from voiced.evaluation.scoring import FileResult, UtteranceResult, summarize
from voiced.vad.silero import CHUNK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    name: str  # key in the labels file: path relative to the set's folder
    path: Path
    label: Label


def collect_items(directory: Path, labels: Dict[str, Label], labels_path: Path) -> Tuple[List[Item], List[str]]:
    """Pair every WAV under `directory` with its label. A WAV without a label is an error (it
    could not be scored); labels whose WAV is absent are returned so the report can say so."""
    if not directory.is_dir():
        raise ConfigError([Problem("not a folder of WAV files", file=str(directory),
                                   hint="pass the folder that holds the labelled clips")])
    wavs = sorted(p for p in directory.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())
    names = {p.relative_to(directory).as_posix(): p for p in wavs}
    unlabelled = [n for n in names if n not in labels]
    if unlabelled:
        raise ConfigError([Problem(f"{len(unlabelled)} WAV file(s) have no label, e.g. {unlabelled[0]}",
                                   file=str(labels_path), key=unlabelled[0],
                                   hint="add an entry for each (intent null for speech to reject)")])
    if not names:
        raise ConfigError([Problem("no WAV files found", file=str(directory),
                                   hint=f"the labels in {labels_path} name files relative to this folder")])
    absent = [n for n in labels if n not in names]
    return [Item(n, p, labels[n]) for n, p in names.items()], absent


class EvalPipeline:
    """The daemon's stages, loaded once and reused for every file."""

    def __init__(self, config: Config, matcher: Any, model_files: Any, asr_settings: Any, vad_threads: int = 1):
        from voiced.pipeline import build_stages

        self.config = config
        self._results: List[UtteranceResult] = []
        # The daemon's own builder: rescoring per config.rescoring.mode; speculation must not
        # change a result, so it stays as configured.
        self.endpointer, self.processor = build_stages(config, model_files, asr_settings, vad_threads, matcher,
                                                       self._sink)

    def _sink(self, utterance: Any, result: Any) -> None:
        """Stands in for Publisher.publish: keeps what would have been published."""
        decision = getattr(result, "decision", None) or {}
        extra = {"reason": getattr(result, "reason", None), "template": getattr(result, "template", None),
                 "decided_by": getattr(result, "decided_by", None), "decision": decision or None,
                 "reading": _reading(result) if decision else None}
        self._results.append(UtteranceResult(
            text=utterance.text, recognized=bool(result.recognized), intent=result.intent,
            slots={name: s.value for name, s in result.slots.items()} if result.recognized else {},
            confidence=float(result.confidence), start_s=utterance.start_s, end_s=utterance.end_s,
            latency_ms=_compute_ms(utterance.latency_ms), latency_parts=dict(utterance.latency_ms),
            reason=extra.pop("reason"), extra={k: v for k, v in extra.items() if v is not None}))

    def run_file(self, item: Item, lead: int = 0) -> FileResult:
        results, audio_s = self.run_path(item.path, lead)
        return FileResult(item.name + (f"@+{lead}" if lead else ""), item.label, results, audio_s=audio_s)

    def run_path(self, path: Path, lead: int = 0) -> Tuple[List[UtteranceResult], float]:
        """Play one WAV as one stream (VAD and endpointer start fresh, as at daemon start) and
        return every result with stream times, and the file's length in seconds. `lead` samples
        of digital silence go first: the same clip at another place on the 32 ms grid."""
        from voiced.audio.sources import FileSource

        source = FileSource(path, realtime=False, chunk_ms=self.config.audio.chunk_ms,
                            channel=self.config.audio.channel)
        self._results = []
        self.endpointer.reset()
        self.processor.abandon()
        if lead:
            for event in self.endpointer.feed(np.zeros(lead, dtype=np.float32)):
                self._handle(event)
        with source:
            for block in source.chunks():
                for event in self.endpointer.feed(block):
                    self._handle(event)
        for event in self.endpointer.flush():  # the end of the file closes an open utterance
            self._handle(event)
        results, self._results = self._results, []
        return results, len(source.audio) / 16000.0

    def _handle(self, event: Any) -> None:
        published = len(self._results)
        utterance = self.processor.handle(event)
        if utterance is not None and len(self._results) == published:
            # Ended but not published: the recogniser heard no words, or only guessed at some
            # (the hallucination gate); the daemon stays silent.
            self._results.append(UtteranceResult(
                text=utterance.text, recognized=False, start_s=utterance.start_s, end_s=utterance.end_s,
                latency_ms=_compute_ms(utterance.latency_ms), latency_parts=dict(utterance.latency_ms),
                reason=self.processor.last_not_speech or "empty transcript",
                extra={"published": False, **({"held_back": True} if self.processor.last_not_speech else {})}))


def _reading(result: Any) -> Optional[Dict[str, Any]]:
    """The intent and slot values the decision judged (the rejected best reading too)."""
    from voiced.decision.features import reading_of

    reading = reading_of(result)
    if reading is None:
        return None
    slots = reading["slots"]
    return {"intent": reading["intent"], "slots": {k: s.value for k, s in slots.items()}}  # type: ignore[union-attr]


def _compute_ms(parts: Dict[str, float]) -> float:
    """Endpoint decision -> result with nothing done early: the finalize, match and rescore work.
    (`total` is the wait after the endpoint; files play faster than real time here, so a
    speculative pass has always finished by then and `total` would say nothing.)"""
    compute = [v for k, v in parts.items() if k != "total"]
    return float(sum(compute)) if compute else float(parts.get("total", 0.0))


def leads(offsets: int) -> List[int]:
    """Samples of silence in front of a clip for each of `offsets` places on the VAD's 512-sample grid."""
    n = max(1, offsets)
    return [k * CHUNK // n for k in range(n)]


def run_items(pipeline: EvalPipeline, items: Sequence[Item],
              progress: Optional[Callable[[int, int, str], None]] = None, offsets: int = 1) -> List[FileResult]:
    """Every item once, or at `offsets` places on the grid (each a result of its own): a figure
    from the files' own alignment alone can be a lucky or an unlucky draw."""
    results: List[FileResult] = []
    runs = [(item, lead) for item in items for lead in leads(offsets)]
    for k, (item, lead) in enumerate(runs):
        if progress is not None:
            progress(k, len(runs), item.name)
        results.append(pipeline.run_file(item, lead))
        log.debug("%s: %s", results[-1].name, [(u.text, u.intent) for u in results[-1].utterances])
    if progress is not None:
        progress(len(runs), len(runs), "")
    return results


def acceptance_by_offset(results: Sequence[FileResult], offsets: int) -> Dict[str, Optional[float]]:
    """Acceptance at each place on the grid (samples of lead -> rate) of a `run_items(...,
    offsets)` run, whose results go item by item, offset by offset: the spread of a per-clip figure."""
    n = max(1, offsets)
    return {str(lead): summarize(results[k::n]).get("acceptance") for k, lead in enumerate(leads(n))}

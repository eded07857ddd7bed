"""`voiced eval --stream`: one continuous stream through the daemon's path, results matched back by time.

The stream is written to a temporary 16-bit WAV and played by the same EvalPipeline as per-clip
evaluation (FileSource -> Endpointer -> UtteranceProcessor), but as ONE file: the VAD state and
the endpointer run on across every clip, gap, burst and sentence, as in the daemon. Each result
belongs to the placed segment its utterance overlaps most. A command clip is then judged
exactly like a file in per-clip evaluation (so the figures compare one to one), with "no
speech" meaning no utterance overlapped the clip. A recognised result outside every command
clip (in a gap, a burst, a negative, or a clip labelled null) is a false accept.
"""
from __future__ import annotations

import bisect
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from voiced.evaluation.labels import Label
from voiced.evaluation.scoring import NO_SPEECH, FileResult, UtteranceResult, summarize
from voiced.evaluation.stream import BURST, CLIP, NEGATIVE, Segment, Stream

log = logging.getLogger(__name__)

HOUR_S = 3600.0


@dataclass
class StreamRun:
    """A stream, every result the pipeline gave for it, and the segment each result belongs to."""

    stream: Stream
    results: List[UtteranceResult]
    owners: List[Optional[int]]
    """per result: index into stream.segments of the segment it overlaps most, None for a gap"""

    def segment_results(self, index: int) -> List[UtteranceResult]:
        return [r for r, o in zip(self.results, self.owners) if o == index]

    def false_accepts(self) -> List[Tuple[UtteranceResult, Optional[Segment]]]:
        """Recognised results outside every command clip, with the segment they came from."""
        out = []
        for r, o in zip(self.results, self.owners):
            segment = self.stream.segments[o] if o is not None else None
            if r.recognized and (segment is None or not segment.is_command):
                out.append((r, segment))
        return out


def assign(results: Sequence[UtteranceResult], segments: Sequence[Segment]) -> List[Optional[int]]:
    """Index of the segment each result's utterance overlaps most (None: it overlaps none)."""
    ends = [s.end_s for s in segments]  # segments are in time order and never overlap
    owners: List[Optional[int]] = []
    for r in results:
        best, best_overlap = None, 0.0
        for k in range(bisect.bisect_right(ends, r.start_s), len(segments)):
            if segments[k].start_s >= r.end_s:
                break
            overlap = min(r.end_s, segments[k].end_s) - max(r.start_s, segments[k].start_s)
            if overlap > best_overlap:
                best, best_overlap = k, overlap
        owners.append(best)
    return owners


def run_stream(pipeline: Any, stream: Stream, keep: Optional[Path] = None) -> StreamRun:
    """Play `stream` through `pipeline` (an EvalPipeline) as one file; `keep` saves the WAV and
    its layout there instead of a temporary file."""
    from voiced.audio.wav import write_wav

    if keep is not None:
        stream.save(keep)
        results, _ = pipeline.run_path(keep)
    else:
        with tempfile.TemporaryDirectory(prefix="voiced-stream-") as tmp:
            path = Path(tmp) / "stream.wav"
            write_wav(path, stream.audio)
            results, _ = pipeline.run_path(path)
    return StreamRun(stream, results, assign(results, stream.segments))


def clip_results(run: StreamRun) -> List[FileResult]:
    """One FileResult per placed clip, negative and burst (the last two labelled null), named
    `name@start_s` so repeats of a clip stay apart."""
    out = []
    for k, segment in enumerate(run.stream.segments):
        label = segment.label if segment.kind == CLIP and segment.label is not None else Label(None)
        out.append(FileResult(f"{segment.name}@{segment.start_s:.2f}s", label, run.segment_results(k),
                              audio_s=segment.end_s - segment.start_s))
    return out


def summarize_stream(run: StreamRun) -> Dict[str, Any]:
    """Per-clip figures over the placed segments (same keys as `summarize`), with
    `false_accepts` counting every recognised result outside the command clips (gaps too),
    plus the stream's own figures: hours, per-hour rate, no-utterance count, layout."""
    clips = clip_results(run)
    summary = summarize(clips)
    false = run.false_accepts()
    hours = run.stream.duration_s / HOUR_S
    kinds = [s.kind for s in run.stream.segments]
    summary.update({
        "audio_s": round(run.stream.duration_s, 3),
        "false_accepts": len(false),
        "false_accepts_per_hour": len(false) / hours if hours else None,
        "no_utterance": summary["errors"].get(NO_SPEECH, 0),
        "in_gaps": sum(o is None for o in run.owners),
        "false_accept_list": [false_accept_row(r, s) for r, s in false],
        "stream": {"duration_s": round(run.stream.duration_s, 3), "hours": round(hours, 4),
                   "commands": len(run.stream.commands()), "clips": kinds.count(CLIP),
                   "negatives": kinds.count(NEGATIVE), "bursts": kinds.count(BURST),
                   "utterances": len(run.results), "seed": run.stream.settings.seed},
    })
    return summary


def false_accept_row(result: UtteranceResult, segment: Optional[Segment], file: str = "") -> Dict[str, Any]:
    """What was heard, the intent, confidence, path that decided it, and where the audio came from."""
    row = {"text": result.text, "intent": result.intent, "slots": result.slots,
           "confidence": round(result.confidence, 3), "decided_by": result.extra.get("decided_by", ""),
           "start_s": round(result.start_s, 2), "end_s": round(result.end_s, 2)}
    if file:  # a whole file of negatives: the file and the time say where
        row["file"] = file
    else:
        row["source"] = segment.name if segment is not None else "(gap)"
        row["source_kind"] = segment.kind if segment is not None else "gap"
    return row


def format_stream(summary: Dict[str, Any], limit: int = 20) -> str:
    """The stream-only lines printed after the per-clip style summary."""
    st = summary["stream"]
    per_hour = summary["false_accepts_per_hour"]
    lines = ["", f"stream                {st['duration_s'] / 60:.1f} min ({st['commands']} commands, "
                 f"{st['clips'] - st['commands']} clips to reject, {st['negatives']} negatives, "
                 f"{st['bursts']} bursts; {st['utterances']} utterances, {summary['in_gaps']} in gaps; "
                 f"seed {st['seed']})",
             f"no utterance          {summary['no_utterance']} of {st['commands']} commands",
             f"false accepts         {summary['false_accepts']} outside command clips"
             + (f" ({per_hour:.2f} per hour)" if per_hour is not None else "")]
    for row in summary["false_accept_list"][:limit]:
        lines.append(f"  {row['start_s']:9.2f}-{row['end_s']:.2f} s  {row['source_kind']} {row['source']}: "
                     f"heard {row['text']!r} -> {row['intent']} ({row['confidence']:.2f}, {row['decided_by']})")
    return "\n".join(lines)

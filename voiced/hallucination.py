"""The hallucination gate: no command from audio the recogniser itself did not take for speech.

The VAD lets a little non-speech through: a buzz singing vowels, a knock, a burst of typing.
The recogniser then runs with `never_empty` (voiced.asr.transcriber) and always says something,
and what it says to non-speech is what it learned from subtitles: "You", "Thank you.",
"♪ I've been", "© transcript Emily Beynon". The matcher rejects those, but rescoring compares
commands only with that transcript, which fits the audio badly too, so a command can come within
`max_gap` of it: on an hour of synthetic music (`voiced eval-set hazards`), sung vowels heard as
"♪Behold me, I'" and "He is a." were published as TimeGet (0.81) and DateGet (0.59).

The recogniser's first choice there was to say nothing: its first decoding step gave the end of
the transcript, before any word, 0.99 and 0.81 (what never_empty overrides). Saying nothing is a
reading like any other, with the score log p(end at step 0) (Transcript.end_logprobs[0], one
term). The gate holds a command back when that reading beats the command's own score by more
than `max_gap`, the bound rescoring puts between the transcription and a command. The command's
score is the one rescoring gave its sentence, or, when the matcher decided alone, the
transcript's (log-probability / terms**length_alpha, as rescoring scores).

Measured (base-en): the two sung false accepts trail saying nothing by 9.2 and 8.4; the 33
accepted real commands by at most 0.1; the 834 accepted Speech Commands clips (clipped single
words, where never_empty earns its keep) by at most 4.5. A held-back command is treated like an
empty transcript (a cough, a door): nothing is published.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from voiced.asr.transcriber import Transcript
    from voiced.grammar.matcher import MatchResult

GATE = "gate"
"""MatchResult.decided_by of a command the gate held back"""


@dataclass(frozen=True)
class HallucinationGate:
    """Says why a recognised result must not be published, or None when it may."""

    max_gap: float = 5.5
    """how far (normalised log-probability) saying nothing may score above the command; the
    daemon passes rescoring.max_gap. inf turns the gate off"""
    length_alpha: float = 0.5
    """length normalisation of a transcript's score: log-probability / terms**alpha (rescoring's)"""

    @classmethod
    def for_config(cls, config) -> "HallucinationGate":
        """The gate with the rescoring section's bound and normalisation."""
        return cls(config.rescoring.max_gap, config.rescoring.length_alpha)

    def command_score(self, transcript: Transcript, result: MatchResult) -> Optional[float]:
        """The published reading's score: rescoring's for its sentence, else the transcript's."""
        info = result.rescoring
        if info.get("scored") and info.get("best") is not None:
            return float(info["best"])
        if not transcript.logprobs:
            return None
        return sum(transcript.logprobs) / len(transcript.logprobs) ** self.length_alpha

    def check(self, transcript: Transcript, result: MatchResult) -> Optional[str]:
        if not result.recognized or not transcript.end_logprobs or not math.isfinite(self.max_gap):
            return None
        score = self.command_score(transcript, result)
        nothing = transcript.end_logprobs[0]
        if score is None or nothing - score <= self.max_gap:
            return None
        return (f"not speech: the recogniser would rather have said nothing (p {math.exp(nothing):.2f}, "
                f"{nothing - score:.1f} above {result.intent})")

    def apply(self, transcript: Transcript, result: MatchResult) -> MatchResult:
        """`result`, or when the gate holds it back, a rejection that names it as the alternative."""
        reason = self.check(transcript, result)
        if reason is None:
            return result
        return dataclasses.replace(result, recognized=False, intent=None, slots={}, template=None, reason=reason,
                                   decided_by=GATE, alternatives=[(result.intent or "", result.confidence,
                                                                   dict(result.slots))])


NO_GATE = HallucinationGate(max_gap=math.inf)
"""lets every result through (to measure what gets published without the gate)"""

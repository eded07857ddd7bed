"""What the accept/reject decision looks at: a few numbers per utterance.

Each is something the recogniser, the matcher or the rescorer already computed, so reading them
costs nothing. They describe the reading the utterance would be published as (the result's own,
or the best rejected reading, so a calibration can learn from near misses too):

    fuzzy           1 when the text matcher's result stood, 0 when rescoring decided
    confidence      the published confidence of that stage (0-1)
    gap             free transcription's score minus the reading's (rescoring; 0 for a fuzzy match)
    margin          the reading's lead over the best reading with another answer (capped)
    free_mean       mean log-probability of the recogniser's own tokens (how sure it was of the words)
    free_min        the least likely of them (one garbled word in a clear utterance)
    words           log(1 + words heard)
    extra_words     log of words heard per word of the reading (stray speech says far more)
    one_word        1 when the reading is one word ("next", "pause": what stray words resemble)
    slots           slots filled
    seconds         log of the utterance's length
    tokens_per_s    tokens decoded per second of audio (babble and hallucinations run fast or slow)
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Dict, List, Optional

from voiced.grammar.matcher import RESCORING

if TYPE_CHECKING:
    from voiced.asr.transcriber import Transcript
    from voiced.grammar.matcher import MatchResult

NAMES: List[str] = ["fuzzy", "confidence", "gap", "margin", "free_mean", "free_min", "words", "extra_words",
                    "one_word", "slots", "seconds", "tokens_per_s"]
MARGIN_CAP = 10.0
_WORD = re.compile(r"[\w']+")


def reading_of(result: MatchResult) -> Optional[Dict[str, object]]:
    """The reading `result` would publish: its own when recognized, else its best rejected one
    (the first alternative), None when there is none."""
    if result.recognized:
        return {"intent": result.intent, "slots": result.slots, "confidence": result.confidence}
    if result.alternatives:
        intent, conf, slots = result.alternatives[0]
        return {"intent": intent, "slots": slots, "confidence": conf}
    return None


def features(result: MatchResult, transcript: Transcript) -> Optional[Dict[str, float]]:
    """The decision's features for `result` (see the module), None when it has no reading."""
    reading = reading_of(result)
    if reading is None:
        return None
    info = result.rescoring if result.decided_by == RESCORING else {}
    heard = len(_WORD.findall(transcript.text))
    sentence = info.get("sentence") if info else None
    said = len(_WORD.findall(str(sentence))) if sentence else heard
    lps = [lp for lp in transcript.logprobs if math.isfinite(lp)]
    margin = info.get("margin") if info else None
    seconds = max(float(transcript.audio_s), 0.05)
    return {
        "fuzzy": 0.0 if info else 1.0,
        "confidence": float(reading["confidence"]),  # type: ignore[arg-type]
        "gap": float(info.get("gap", 0.0)) if info else 0.0,
        "margin": MARGIN_CAP if margin is None else min(float(margin), MARGIN_CAP),
        "free_mean": sum(lps) / len(lps) if lps else 0.0,
        "free_min": max(min(lps), -20.0) if lps else 0.0,
        "words": math.log1p(heard),
        "extra_words": math.log((heard + 1) / (said + 1)),
        "one_word": 1.0 if said <= 1 else 0.0,
        "slots": float(len(reading["slots"])),  # type: ignore[arg-type]
        "seconds": math.log(seconds),
        "tokens_per_s": len(transcript.tokens) / seconds,
    }

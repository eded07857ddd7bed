"""The interpreter's last step: one calibrated accept/reject decision per utterance.

The matcher and the rescorer propose a reading; a logistic model over a few of their numbers
(voiced.decision.features), fitted on real and synthetic commands and non-command speech, gives
the probability that it is a real command read right. `decision.max_false_accepts_per_hour`
picks the threshold from the tuning curve stored with the model. In the calibration's `decide`
mode that probability alone accepts or rejects the best reading of a rescored utterance (so a
command the gap rule turned away can still be accepted); in `gate` mode it only rejects. The
published confidence becomes the probability.

Rejections the decision never overrides: the matcher finding no reading, an ambiguous or
unsure slot (its own rules), and anything not decided by rescoring.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

from voiced.decision.calibration import Calibration
from voiced.decision.features import features
from voiced.grammar.matcher import RESCORING

if TYPE_CHECKING:
    from voiced.asr.transcriber import Transcript
    from voiced.grammar.matcher import MatchResult

log = logging.getLogger(__name__)

RESCORING_REJECTION = "rescoring:"
"""reasons the rescorer gives for its gap and length rules, which the decision replaces"""


class Decision:
    """Adds features (always, for `voiced calibrate collect`) and, with a calibration, decides."""

    def __init__(self, calibration: Optional[Calibration] = None, threshold: float = 0.5):
        self.calibration = calibration
        self.threshold = threshold

    def decide(self, result: MatchResult, transcript: Transcript) -> MatchResult:
        feats = features(result, transcript)
        if feats is None:
            return result
        info: Dict[str, Any] = {"features": feats}
        cal = self.calibration
        if cal is None:
            return dataclasses.replace(result, decision=info)
        p = cal.probability(feats)
        info.update(p=p, threshold=self.threshold)
        overridable = (cal.mode == "decide" and result.decided_by == RESCORING and not result.recognized
                       and (result.reason or "").startswith(RESCORING_REJECTION))
        if result.recognized and p < self.threshold:
            intent, slots = result.intent, result.slots
            log.debug("decision: %s at p %.2f below %.2f: not recognized", intent, p, self.threshold)
            return dataclasses.replace(
                result, recognized=False, intent=None, slots={}, template=None, confidence=p, decision=info,
                reason=f"decision: p {p:.2f} below the threshold {self.threshold:.2f}",
                alternatives=[(str(intent), p, slots)] + list(result.alternatives))
        if result.recognized:
            return dataclasses.replace(result, confidence=p, decision=info)
        if overridable and p >= self.threshold and result.alternatives:
            intent, _, slots = result.alternatives[0]
            log.debug("decision: %s at p %.2f accepted (%s)", intent, p, result.reason)
            return dataclasses.replace(result, recognized=True, intent=intent, slots=dict(slots), confidence=p,
                                       decision=info, reason=None, alternatives=result.alternatives[1:])
        return dataclasses.replace(result, decision=info)

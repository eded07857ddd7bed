"""One calibrated accept/reject decision per utterance (see decider.py), and its calibration."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from voiced.decision.calibration import BUNDLED, BUNDLED_CONSTRAINED, Calibration, CurvePoint, load_calibration
from voiced.decision.decider import Decision
from voiced.decision.features import NAMES, features

if TYPE_CHECKING:
    from voiced.config import Config

log = logging.getLogger(__name__)

__all__ = ["BUNDLED", "BUNDLED_CONSTRAINED", "Calibration", "CurvePoint", "Decision", "NAMES", "features",
           "load_calibration", "make_decision", "make_second_look", "model_id"]


def model_id(recogniser: Any) -> str:
    """"<layout>:<name>" of the recogniser's model files ("v1:base-en"), "" when it has none."""
    files = getattr(recogniser, "files", None)
    return f"{files.layout}:{files.name}" if files is not None else ""


def make_decision(config: Config, recogniser: Any, searches: Optional[bool] = None) -> Decision:
    """The decision of config.decision for `recogniser`'s model. A calibration fitted for another
    model would judge numbers it never saw: it is not used (one log line), and the rescoring gaps
    decide alone. `searches`: whether the rescorer runs the grammar-constrained search (with
    `constrained: auto` that depends on the grammar); None reads it off config.rescoring."""
    settings = config.decision
    if settings.mode == "off":
        return Decision()
    if searches is None:
        searches = config.rescoring.mode != "off" and config.rescoring.constrained in ("fallback", "always")
    path = config.resolve(settings.calibration)
    if path is None and searches:
        path = BUNDLED_CONSTRAINED
    calibration = load_calibration(path)
    running = model_id(recogniser)
    if calibration.model != running:
        name = settings.calibration or f"(bundled {(path or BUNDLED).name})"
        log.info("decision: the calibration %s was fitted for %s, not %s; deciding by the rescoring gaps "
                 "(fit one for this model with `voiced calibrate`)", name, calibration.model,
                 running or "this recogniser")
        return Decision()
    threshold = calibration.threshold_for(settings.max_false_accepts_per_hour)
    point = calibration.point_at(threshold)
    log.info("decision: threshold %.2f for at most %g false accepts per hour%s", threshold,
             settings.max_false_accepts_per_hour,
             f" (tuning data: {100 * point.acceptance:.1f} % of commands, {point.per_hour:.2f} per hour)"
             if point is not None else "")
    return Decision(calibration, threshold)


def make_second_look(config: Config, first: Decision) -> Optional[Decision]:
    """The decision for a rejected utterance's second look (Transcriber.look_again): `first`'s
    calibration at the threshold where its tuning negatives gave no false accept at all. A
    second chance is a second draw for stray sounds too, so it gets none of the budget: at a
    tenth of it (threshold 0.61 for base-en), a sung syllable in the tuning hours of music was
    published as "pause" (p 0.82). None when config.decision.second_look is off or `first` has
    no calibration: without one, nothing bounds what a second chance adds."""
    if not config.decision.second_look or first.calibration is None:
        return None
    threshold = max(first.threshold, first.calibration.threshold_for(0.0))
    log.info("decision: a rejected utterance gets a second look, accepted at threshold %.2f", threshold)
    return Decision(first.calibration, threshold)

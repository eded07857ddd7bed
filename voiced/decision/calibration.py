"""A fitted accept/reject model: logistic regression over voiced.decision.features, and the
tuning curve that turns a false-accepts-per-hour budget into a threshold.

Stored as a small JSON file (the bundled one is voiced/decision/calibration.json); `voiced
calibrate fit` writes it and records what data it was fitted on. A calibration belongs to one
recogniser: its features are that model's log-probabilities, so it applies only to the model it
names.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from voiced.decision.features import NAMES
from voiced.errors import ConfigError, Problem

BUNDLED = Path(__file__).with_name("calibration.json")
# Fitted on readings taken with the grammar search on (the shipped grammar under constrained: auto):
# the search finds readings for speech no list held, stray speech too, so they are judged by their own fit.
BUNDLED_CONSTRAINED = Path(__file__).with_name("calibration_constrained.json")


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    acceptance: float
    """share of the tuning commands published with the right intent and slots"""
    per_hour: float
    """false accepts per hour of the tuning negatives"""
    wrong: float = 0.0
    """share of the tuning commands published with a wrong intent or slot"""


@dataclass(frozen=True)
class Calibration:
    model: str
    """the recogniser it was fitted for, "<layout>:<name>" (e.g. "v1:base-en")"""
    names: List[str]
    mean: List[float]
    scale: List[float]
    weights: List[float]
    bias: float
    mode: str = "decide"
    """decide: the probability alone accepts or rejects the best reading (the rescorer's gap rules
    no longer reject on their own); gate: it can only reject what the rules accepted"""
    curve: List[CurvePoint] = field(default_factory=list)
    fitted_on: Dict[str, Any] = field(default_factory=dict)
    """what data, how much of it, and the command that fitted it"""

    def probability(self, feats: Dict[str, float]) -> float:
        """P(a real command read right | these features)."""
        z = self.bias
        for name, mean, scale, weight in zip(self.names, self.mean, self.scale, self.weights):
            z += weight * (float(feats.get(name, 0.0)) - mean) / scale
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def threshold_for(self, max_per_hour: float) -> float:
        """The lowest threshold at which the tuning negatives gave at most `max_per_hour` false
        accepts per hour (the curve's strictest point when none does)."""
        points = sorted(self.curve, key=lambda p: p.threshold)
        if not points:
            return 0.5
        for point in points:
            if point.per_hour <= max_per_hour:
                return point.threshold
        return points[-1].threshold

    def point_at(self, threshold: float) -> Optional[CurvePoint]:
        """The curve point with the highest threshold not above `threshold`."""
        below = [p for p in self.curve if p.threshold <= threshold + 1e-9]
        return max(below, key=lambda p: p.threshold) if below else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


def load_calibration(path: Union[str, Path, None] = None) -> Calibration:
    """Read a calibration file (the bundled one when `path` is None); ConfigError naming the file."""
    path = Path(path) if path is not None else BUNDLED
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        curve = [CurvePoint(**p) for p in data.pop("curve", [])]
        calibration = Calibration(curve=curve, **data)
    except FileNotFoundError:
        raise ConfigError([Problem("calibration file not found", file=str(path),
                                   hint="fit one with `voiced calibrate fit`, or leave decision.calibration empty "
                                        "for the bundled one")]) from None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError([Problem(f"not a calibration file: {exc}", file=str(path),
                                   hint="write it with `voiced calibrate fit`")]) from None
    if not (len(calibration.names) == len(calibration.mean) == len(calibration.scale) == len(calibration.weights)):
        raise ConfigError([Problem("names, mean, scale and weights differ in length", file=str(path),
                                   hint="write it with `voiced calibrate fit`")])
    unknown = [n for n in calibration.names if n not in NAMES]
    if unknown or calibration.mode not in ("decide", "gate") or any(s <= 0 for s in calibration.scale):
        raise ConfigError([Problem(f"unknown feature {unknown[0]!r}" if unknown else "bad mode or scale",
                                   file=str(path), hint="write it with `voiced calibrate fit`")])
    return calibration


def matrix(rows: Sequence[Dict[str, float]], names: Sequence[str]) -> List[List[float]]:
    return [[float(r.get(n, 0.0)) for n in names] for r in rows]

"""Fit the decision: ridge-penalised logistic regression over the collected readings, and the
tuning curve (acceptance and false accepts per hour against the threshold) on the same data.

Numpy only: a dozen features and a few thousand rows need nothing more than Newton's method.
Right readings of commands are the positives; everything else (wrong readings, readings of
clips to reject, every reading of the negatives) the negatives, weighted so both classes count
the same.
"""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from voiced.decision.calibration import Calibration, CurvePoint, matrix
from voiced.decision.features import NAMES
from voiced.errors import ConfigError, Problem
from voiced.grammar.matcher import RESCORING

GRID = [round(0.01 * k, 2) for k in range(100)]
FOLDS = 5


def load_data(paths: Sequence[Path]) -> Dict[str, Any]:
    """The readings and set descriptions of one or more `voiced calibrate collect` files, which
    must all come from one model."""
    rows: List[Dict[str, Any]] = []
    sets: List[Dict[str, Any]] = []
    models = set()
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            rows += data["rows"]
            sets += data["sets"]
            models.add(data["model"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError([Problem(f"not a file of collected readings: {exc}", file=str(path),
                                       hint="write it with `voiced calibrate collect`")]) from None
    if len(models) != 1:
        raise ConfigError([Problem(f"readings of {len(models)} models ({', '.join(sorted(models))})",
                                   file=str(paths[0]), hint="fit one model's readings at a time")])
    if not any(r["y"] for r in rows) or all(r["y"] for r in rows):
        raise ConfigError([Problem("the readings need right and wrong ones", file=str(paths[0]),
                                   hint="collect command sets and negatives")])
    return {"model": models.pop(), "rows": rows, "sets": sets}


def logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float, steps: int = 50) -> np.ndarray:
    """Weights (bias last) of a ridge-penalised logistic regression, by Newton's method."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -40, 40)))
        grad = xb.T @ (weight * (p - y)) + penalty * w
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def accepted(rows: Sequence[Dict[str, Any]], probs: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    """Which readings the decision would publish at `threshold`."""
    prior = np.array([r["recognized"] for r in rows], dtype=bool)
    overridable = np.array([r["decided_by"] == RESCORING for r in rows], dtype=bool)
    eligible = prior | overridable if mode == "decide" else prior
    return eligible & (probs >= threshold)


def curve(rows: Sequence[Dict[str, Any]], probs: np.ndarray, sets: Sequence[Dict[str, Any]], mode: str,
          grid: Sequence[float] = GRID) -> List[CurvePoint]:
    """Acceptance, wrong readings (of the command clips) and false accepts per hour (of the
    negatives) at each threshold."""
    kinds = {s["name"]: s["kind"] for s in sets}
    commands = sum(s.get("commands", 0) for s in sets)
    hours = sum(s.get("hours", 0.0) for s in sets)
    negative = np.array([kinds.get(r["set"]) == "negatives" for r in rows], dtype=bool)
    command = np.array([r.get("clip_intent") is not None for r in rows], dtype=bool)
    y = np.array([r["y"] for r in rows], dtype=bool)
    # over every reading a negative produced, even those the gate's rules turned away: what the
    # decide mode could publish bounds what the gate can
    tail = negative_tail(probs[negative & accepted(rows, probs, 0.0, "decide")], hours)
    points = []
    for t in grid:
        took = accepted(rows, probs, t, mode)
        counted = float(np.sum(took & negative)) / hours if hours else 0.0
        points.append(CurvePoint(
            threshold=t, acceptance=round(float(np.sum(took & y)) / max(commands, 1), 4),
            per_hour=round(max(counted, tail(t)), 3),
            wrong=round(float(np.sum(took & command & ~y)) / max(commands, 1), 4)))
    return points


def negative_tail(probs: np.ndarray, hours: float) -> Callable[[float], float]:
    """False accepts per hour above a threshold, from a normal fitted to the logits of the
    negatives' probabilities. The few readings that cross a strict threshold in a few hours of
    tuning audio say little about where the next hour's will fall; the bulk of all the
    negatives' readings says more (the curve takes the larger of the two)."""
    if not hours or len(probs) < 10:
        return lambda t: 0.0
    clipped = np.clip(probs, 1e-6, 1 - 1e-6)
    logits = np.log(clipped / (1 - clipped))
    mean, sd, rate = float(logits.mean()), max(float(logits.std()), 1e-3), len(probs) / hours

    def per_hour(t: float) -> float:
        if t <= 0.0:
            return rate
        z = (math.log(t / (1 - t)) - mean) / sd if t < 1.0 else math.inf
        return rate * 0.5 * math.erfc(z / math.sqrt(2))

    return per_hour


def _fit(x: np.ndarray, y: np.ndarray, l2: float) -> "tuple[np.ndarray, np.ndarray, np.ndarray]":
    """(mean, scale, weights with the bias last) of a fit on standardised features, both classes
    weighted alike."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    weight = np.where(y > 0, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    return mean, scale, logistic((x - mean) / scale, y, weight, l2)


def held_out_probabilities(x: np.ndarray, y: np.ndarray, groups: Sequence[str], l2: float,
                           folds: int = FOLDS) -> np.ndarray:
    """Each reading's probability from a model fitted without its file: a curve from in-sample
    probabilities would promise a threshold that held-out speech then crosses."""
    fold_of = {g: k % folds for k, g in enumerate(sorted(set(groups), key=_stable_hash))}
    fold = np.array([fold_of[g] for g in groups])
    probs = np.zeros(len(y))
    for k in range(folds):
        test = fold == k
        if not test.any() or len(set(y[~test])) < 2:
            continue
        mean, scale, w = _fit(x[~test], y[~test], l2)
        zt = (x[test] - mean) / scale
        probs[test] = 1.0 / (1.0 + np.exp(-np.clip(zt @ w[:-1] + w[-1], -40, 40)))
    return probs


def _stable_hash(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def fit_calibration(data: Dict[str, Any], mode: str = "decide", l2: float = 1.0, command: str = "",
                    about: str = "") -> Calibration:
    rows = data["rows"]
    x = np.array(matrix([r["features"] for r in rows], NAMES))
    y = np.array([r["y"] for r in rows], dtype=float)
    mean, scale, w = _fit(x, y, l2)
    calibration = Calibration(model=data["model"], names=list(NAMES), mean=[round(float(v), 6) for v in mean],
                              scale=[round(float(v), 6) for v in scale], weights=[round(float(v), 6) for v in w[:-1]],
                              bias=round(float(w[-1]), 6), mode=mode)
    # negatives: one group per 10-minute file would leave few folds, so per minute of it
    groups = [f"{r['set']}/{r['file']}" + (f"@{int(r.get('start_s', 0) // 60)}" if r.get("clip_intent") is None
                                           and not r["y"] else "") for r in rows]
    probs = held_out_probabilities(x, y, groups, l2)
    fitted_on = {
        "date": datetime.date.today().isoformat(), "command": command, "about": about, "l2": l2,
        "readings": len(rows), "right": int(y.sum()), "curve": f"{FOLDS}-fold held-out probabilities",
        "sets": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items() if k != "wall_s"}
                 for s in data["sets"]]}
    return Calibration(**{**calibration.__dict__, "curve": curve(rows, probs, data["sets"], mode),
                          "fitted_on": fitted_on})


def summary(calibration: Calibration, budgets: Sequence[float] = (0.0, 0.1, 0.5, 1.0, 2.0)) -> str:
    lines = [f"calibration for {calibration.model} ({calibration.mode}), fitted on "
             f"{calibration.fitted_on.get('readings')} readings ({calibration.fitted_on.get('right')} right):"]
    for name, weight in sorted(zip(calibration.names, calibration.weights), key=lambda nw: -abs(nw[1])):
        lines.append(f"  {name:<14}{weight:+.3f}")
    lines.append(f"{'max FA/h':>10}{'threshold':>11}{'accepted':>10}{'wrong':>8}{'FA/h':>7}  (tuning curve)")
    for budget in budgets:
        t = calibration.threshold_for(budget)
        point = calibration.point_at(t)
        if point is not None:
            lines.append(f"{budget:>10g}{t:>11.2f}{100 * point.acceptance:>9.1f}%{100 * point.wrong:>7.1f}%"
                         f"{point.per_hour:>7.2f}")
    return "\n".join(lines)

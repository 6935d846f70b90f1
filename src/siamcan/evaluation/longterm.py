"""Long-term tracking measures (VOT-LT: Lukežič et al., "Now you see me: evaluating performance in long-term visual
tracking", 2018; the VOT toolkit's ``pr_curves`` / ``f_curve`` / ``average_tpr`` analyses).

A long-term tracker reports a box and a confidence per frame; the ground truth may mark the target absent (``nan``
rows). For a confidence threshold ``tau`` the tracker "reports" the frames whose confidence is at least ``tau``:

* tracking precision ``Pr(tau)`` = mean overlap over the reported frames (overlap 0 where the target is absent;
  1 when nothing is reported),
* tracking recall ``Re(tau)`` = sum of the overlaps over the reported frames / number of frames where the target
  is visible,
* ``F(tau) = 2 Pr Re / (Pr + Re)``.

Precision and recall are computed per sequence and averaged over the sequences at each threshold; the F-score is
the largest F over the thresholds, and Pr / Re are reported at that threshold. The thresholds are the tracker's
own confidences over all sequences: sorted, at most ``resolution - 2`` of them at equal index steps, plus +inf and
-inf (``determine_thresholds``, as the toolkit does).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

RESOLUTION = 100


def determine_thresholds(confidences, resolution: int = RESOLUTION) -> np.ndarray:
    """Thresholds from the confidences (NaN dropped): descending, +inf first and -inf last."""
    c = np.sort(np.asarray([v for v in np.ravel(confidences) if not math.isnan(v)], dtype=float))[::-1]
    if len(c) > resolution - 2:
        delta = math.floor(len(c) / (resolution - 2))
        idx = np.round(np.linspace(delta, len(c) - delta, num=resolution - 2)).astype(int)
        c = c[idx]
    return np.concatenate([[math.inf], c, [-math.inf]])


def pr_curve(overlaps: np.ndarray, confidence: np.ndarray, visible: np.ndarray, thresholds: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """One sequence's tracking precision and recall at each threshold.

    ``overlaps`` per frame (0 where the target is absent), ``confidence`` per frame, ``visible`` per frame (target
    annotated and present). Frames whose confidence is NaN are never reported."""
    overlaps = np.nan_to_num(np.asarray(overlaps, float))
    conf = np.asarray(confidence, float)
    n_visible = max(int(np.sum(visible)), 1)
    precision = np.ones(len(thresholds))
    recall = np.zeros(len(thresholds))
    with np.errstate(invalid="ignore"):
        for i, t in enumerate(thresholds):
            subset = conf >= t
            if subset.any():
                precision[i] = overlaps[subset].mean()
                recall[i] = overlaps[subset].sum() / n_visible
    return precision, recall


def f_curve(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 2 * precision * recall / (precision + recall)
    return np.nan_to_num(f)


@dataclass
class LongTermScore:
    precision: float
    recall: float
    fscore: float
    threshold: float  # the confidence threshold of the best F
    thresholds: np.ndarray = field(repr=False)
    precision_curve: np.ndarray = field(repr=False)
    recall_curve: np.ndarray = field(repr=False)
    per_sequence: dict[str, dict[str, float]] = field(default_factory=dict)


def _best(pr: np.ndarray, re: np.ndarray, thresholds: np.ndarray) -> tuple[float, float, float, float]:
    f = f_curve(pr, re)
    i = int(np.argmax(f))
    return float(pr[i]), float(re[i]), float(f[i]), float(thresholds[i])


def longterm_scores(sequences: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                    resolution: int = RESOLUTION) -> LongTermScore:
    """VOT-LT precision, recall and F-score over sequences ``{name: (overlaps, confidence, visible)}``, plus each
    sequence's own best F (on the same thresholds)."""
    if not sequences:
        raise ValueError("no sequences to score")
    thresholds = determine_thresholds(np.concatenate([np.asarray(c, float) for _, c, _ in sequences.values()]),
                                      resolution)
    curves = {name: pr_curve(o, c, v, thresholds) for name, (o, c, v) in sequences.items()}
    pr = np.mean([p for p, _ in curves.values()], axis=0)
    re = np.mean([r for _, r in curves.values()], axis=0)
    p, r, f, t = _best(pr, re, thresholds)
    per = {}
    for name, (sp, sr) in curves.items():
        a, b, c, d = _best(sp, sr, thresholds)
        per[name] = {"precision": a, "recall": b, "fscore": c, "threshold": d}
    return LongTermScore(p, r, f, t, thresholds, pr, re, per)

"""Calibrating the per-frame confidence on a validation set (``siamcan calibrate``; issue 20).

The tracker runs once over every sequence (one-pass, its own tracker values, no re-detection) and records, per
frame, the score-map features of :mod:`siamcan.tracking.confidence` and whether its box overlaps the ground truth
(IoU > 0; a frame whose target is absent counts as not overlapping). A logistic model of "overlaps" on the features
is fitted on all frames, its L2 penalty chosen by the leave-one-sequence-out ROC AUC (each sequence scored by a
model fitted on the others); the ROC AUC is reported in-sample and leave-one-sequence-out, next to the ROC AUC of
the raw network score, with a reliability table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import SiamcanError
from .evaluation.datasets import Dataset
from .geometry import box_iou
from .tracking.confidence import confidence, fit_logistic, reliability, roc_auc


@dataclass
class Recording:
    """Per frame of every sequence (init frames left out): features (N, F), overlap label, raw score, sequence."""

    features: np.ndarray
    overlaps: np.ndarray
    raw: np.ndarray
    sequence: np.ndarray
    names: list[str] = field(default_factory=list)


def record(tracker, dataset: Dataset, tick: Callable[[], object] | None = None) -> Recording:
    """Run ``tracker`` (a :class:`~siamcan.tracking.tracker.SiamCANTracker` without confidence weights) over
    ``dataset`` and record its features and overlaps."""
    tracker.keep_features = True
    feats, over, raw, seq = [], [], [], []
    names = []
    for si, s in enumerate(dataset):
        names.append(s.name)
        tracker.init(s.frame(0), s.init_box(0))
        for i in range(1, len(s)):
            box, score = tracker.update(s.frame(i))
            gt = s.gt[i]
            present = gt.size == 4 and np.isfinite(gt).all() and not (s.absent is not None and s.absent[i])
            feats.append(tracker.features)
            over.append(float(box_iou(np.array(box), gt)[0]) if present else 0.0)
            raw.append(score)
            seq.append(si)
            if tick is not None:
                tick()
    tracker.keep_features = False
    return Recording(np.array(feats), np.nan_to_num(np.array(over)), np.array(raw), np.array(seq), names)


@dataclass
class Calibration:
    weights: np.ndarray
    l2: float  # the penalty chosen by leave-one-sequence-out ROC AUC
    roc_auc: float  # the calibrated confidence, in-sample
    roc_auc_loso: float  # leave-one-sequence-out (each sequence scored by a model fitted on the others)
    roc_auc_raw: float  # the network's score at the chosen point
    frames: int
    positives: int
    reliability: list[tuple[float, float, int]]
    loso_by_l2: dict[float, float] = field(default_factory=dict)


L2_GRID = (1.0, 10.0, 100.0, 300.0, 1000.0)


def _loso(rec: Recording, y: np.ndarray, l2: float) -> np.ndarray:
    out = np.empty(len(y))
    for s in np.unique(rec.sequence):
        held = rec.sequence == s
        out[held] = confidence(rec.features[held], fit_logistic(rec.features[~held], y[~held], l2))
    return out


def calibrate(rec: Recording, l2_grid=L2_GRID) -> Calibration:
    """Fit the logistic confidence; its L2 penalty is the one of ``l2_grid`` with the best leave-one-sequence-out
    ROC AUC (frames of one sequence are alike, so sequences, not frames, are what a fit must generalise across)."""
    y = rec.overlaps > 0
    if y.all() or not y.any():  # a logistic fit of one class has no answer: ROC AUC nan, weights [26.6, 0, ...]
        raise SiamcanError(f"calibration needs frames where the box overlaps the target and frames where it does not; "
                           f"in all {len(y)} frames it {'does' if y.all() else 'does not'} (add sequences where the "
                           "tracker loses the target)" if len(y) else "calibration found no frames to fit on")
    by_l2 = {float(l2): roc_auc(_loso(rec, y, l2), y) for l2 in l2_grid}
    best = max(by_l2, key=lambda k: np.nan_to_num(by_l2[k], nan=-1))
    w = fit_logistic(rec.features, y, best)
    conf = confidence(rec.features, w)
    return Calibration(w, best, roc_auc(conf, y), by_l2[best], roc_auc(rec.raw, y), int(len(y)), int(y.sum()),
                       reliability(conf, y), by_l2)


def plot_reliability(cal: Calibration, path, title: str = "") -> None:
    """Reliability diagram: observed overlap rate per confidence bin against the diagonal, frames per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .fileio import atomic_output

    fig, (ax, bx) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    m = [r[0] for r in cal.reliability]
    ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfect calibration")
    ax.plot(m, [r[1] for r in cal.reliability], "o-", label="observed")
    ax.set(ylabel="share of frames whose box overlaps the target", xlim=(0, 1), ylim=(0, 1.02),
           title=title or f"confidence reliability (ROC AUC {cal.roc_auc:.3f})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    bx.bar(m, [r[2] for r in cal.reliability], width=0.08)
    bx.set(xlabel="confidence", ylabel="frames", yscale="log")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format=Path(path).suffix.lower().lstrip(".") or "png")
    plt.close(fig)

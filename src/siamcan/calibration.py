"""Calibrating the per-frame confidence on a validation set (``siamcan calibrate``; issue 20).

The tracker runs once over every sequence (one-pass, its own tracker values, no re-detection) and records, per
frame, the score-map features of :mod:`siamcan.tracking.confidence` and whether its box overlaps the ground truth
(IoU > 0; a frame whose target is absent counts as not overlapping). A logistic model of "overlaps" is fitted on all
frames, on every feature or on the peak alone (the network's score at the chosen point, what ``update`` returned
before there was a confidence), the features standardised for the fit so that one L2 penalty means the same for each.
The features and the penalty are those with the lowest leave-one-sequence-out log-loss (each sequence scored by a
model fitted on the others): the confidence is read as a probability, and the log-loss scores exactly that, where
a ROC AUC pooled over sequences scored by different fits also counts each fit's own intercept (a one-feature fit
of a feature that ranks the frames at 0.93 pooled to 0.05 that way). The ROC AUC is reported in-sample and
leave-one-sequence-out, next to the ROC AUC of the raw network score, with a reliability table. The lost threshold
suggested with it is the one whose "below it" flags the frames off the target with the best F1 score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import SiamcanError
from .evaluation.datasets import Dataset
from .geometry import box_iou
from .tracking.confidence import confidence, fit_logistic, log_loss, reliability, roc_auc


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
    l2: float  # the penalty chosen by leave-one-sequence-out log-loss
    roc_auc: float  # the calibrated confidence, in-sample
    roc_auc_loso: float  # leave-one-sequence-out (each sequence scored by a model fitted on the others)
    roc_auc_raw: float  # the network's score at the chosen point
    frames: int
    positives: int
    reliability: list[tuple[float, float, int]]
    features: str = "all"  # the features used (FEATURE_SETS)
    loso: dict = field(default_factory=dict)  # (features, L2) -> leave-one-sequence-out log-loss (lower: better)
    loso_auc: dict = field(default_factory=dict)  # (features, L2) -> leave-one-sequence-out ROC AUC (reported)
    lost_threshold: float = float("nan")  # suggested: below it for lost_frames frames the target is lost
    lost_f1: float = float("nan")  # the F1 score of "below lost_threshold" for the frames off the target
    # held-out log-loss of a constant confidence (each sequence given the share of frames on the target in the
    # others): a fit that does not beat it does not generalise across these sequences
    log_loss_base: float = float("nan")

    @property
    def log_loss_loso(self) -> float:
        """The chosen fit's leave-one-sequence-out log-loss."""
        return self.loso[(self.features, self.l2)]


L2_GRID = (0.1, 1.0, 10.0, 100.0, 300.0, 1000.0)  # on standardised features
# the features a model may use: every one, or the peak alone (where a mix does not generalise across sequences, the
# peak alone can: for siamcan-nano's weights on val the peak alone ranks the frames at 0.930, every feature at 0.926
# in-sample, and their held-out log-losses are close, 0.154 and 0.150)
FEATURE_SETS = {"all": None, "peak": (0,)}
LOST_GRID = tuple(round(0.5 + 0.01 * k, 2) for k in range(50))  # lost thresholds tried: 0.50 ... 0.99


def fit(features: np.ndarray, y: np.ndarray, l2: float, columns=None) -> np.ndarray:
    """Logistic weights on the raw features (bias first, one per feature), fitted on ``columns`` of the features only
    (None: all; the other features' weights are 0). The fit runs on the columns standardised (mean 0, standard
    deviation 1 over these frames; a constant column is left unscaled), so that the penalty ``l2`` weighs every
    feature alike, and its weights are mapped back to the raw features the tracker computes."""
    cols = list(range(features.shape[1])) if columns is None else list(columns)
    x = np.asarray(features, np.float64)[:, cols]
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-12] = 1.0
    ws = fit_logistic((x - mean) / sd, y, l2)
    w = np.zeros(features.shape[1] + 1)
    w[[c + 1 for c in cols]] = ws[1:] / sd
    w[0] = ws[0] - float(np.sum(ws[1:] * mean / sd))
    return w


def _loso(rec: Recording, y: np.ndarray, l2: float | None, columns=None) -> np.ndarray:
    """Each sequence's confidences from a fit on the other sequences (``l2`` None: a constant, their share of frames
    on the target)."""
    out = np.empty(len(y))
    for s in np.unique(rec.sequence):
        held = rec.sequence == s
        if l2 is None:
            out[held] = y[~held].mean() if (~held).any() else 0.5
        else:
            out[held] = confidence(rec.features[held], fit(rec.features[~held], y[~held], l2, columns))
    return out


def lost_threshold(conf: np.ndarray, overlaps: np.ndarray, highest: float = 1.0) -> tuple[float, float]:
    """The threshold t of :data:`LOST_GRID` (at most ``highest``) whose "confidence below t" flags the frames off the
    target (``overlaps`` False) with the best F1 score, and that score; ties go to the lower t (fewer false alarms)."""
    conf = np.asarray(conf, np.float64)
    off = ~np.asarray(overlaps, bool)
    best = (LOST_GRID[0], -1.0)
    for t in LOST_GRID:
        if t > highest + 1e-12:
            break
        flagged = conf < t
        f1 = 2.0 * float((flagged & off).sum()) / max(int(flagged.sum()) + int(off.sum()), 1)
        if f1 > best[1] + 1e-12:
            best = (t, f1)
    return best


def calibrate(rec: Recording, l2_grid=L2_GRID, highest_lost: float = 1.0) -> Calibration:
    """Fit the logistic confidence; its features (:data:`FEATURE_SETS`) and L2 penalty are those of ``l2_grid`` with
    the lowest leave-one-sequence-out log-loss (frames of one sequence are alike, so sequences, not frames, are what
    a fit must generalise across; on a tie every feature, the lowest penalty). The lost threshold (at most
    ``highest_lost``) is then :func:`lost_threshold` of the fitted confidence."""
    y = rec.overlaps > 0
    if y.all() or not y.any():  # a logistic fit of one class has no answer: ROC AUC nan, weights [26.6, 0, ...]
        raise SiamcanError(f"calibration needs frames where the box overlaps the target and frames where it does not; "
                           f"in all {len(y)} frames it {'does' if y.all() else 'does not'} (add sequences where the "
                           "tracker loses the target)" if len(y) else "calibration found no frames to fit on")
    held = {(name, float(l2)): _loso(rec, y, l2, cols) for name, cols in FEATURE_SETS.items() for l2 in l2_grid}
    loso = {k: log_loss(p, y) for k, p in held.items()}
    best = min(loso, key=lambda k: loso[k])  # the first of equals: "all", the lowest L2
    w = fit(rec.features, y, best[1], FEATURE_SETS[best[0]])
    conf = confidence(rec.features, w)
    lost, f1 = lost_threshold(conf, y, highest_lost)
    loso_auc = {k: roc_auc(p, y) for k, p in held.items()}
    return Calibration(w, best[1], roc_auc(conf, y), loso_auc[best], roc_auc(rec.raw, y), int(len(y)), int(y.sum()),
                       reliability(conf, y), best[0], loso, loso_auc, lost, f1,
                       log_loss(_loso(rec, y, None), y))


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

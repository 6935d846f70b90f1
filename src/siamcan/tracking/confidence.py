"""A per-frame confidence that means something: the probability that the reported box still overlaps the target.

Features of each frame's score map (foreground probability at every point, after the network):

* ``peak``: the probability at the chosen point (what ``update`` has always returned as its score),
* ``max``: the largest probability anywhere on the map,
* ``log_apce``: log of the average peak-to-correlation energy, ``(max - min)^2 / mean((p - min)^2)`` (Wang et al.,
  LMCF, 2017): high for one sharp peak, low for a flat or cluttered map,
* ``psr``: peak-to-sidelobe ratio, ``(max - mean) / std`` of the map outside the 3x3 points around the maximum,
* ``second``: the second-highest local maximum relative to the highest (a distractor's strength),

turned into a probability by a logistic model whose weights are fitted on the validation set (``siamcan calibrate``,
never on the set a number is reported on) and stored in the config (``tracker.confidence_weights``). Computing the
features is a few vector operations on a 15x15 / 25x25 map: nothing measurable next to the network.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..config import CONFIDENCE_FEATURES as FEATURES  # noqa: F401  (the order of the weights)


_NEIGHBOURS = np.ones((3, 3), np.uint8)


def score_features(score: np.ndarray, best: int) -> np.ndarray:
    """The features above from a flattened (S*S,) foreground-probability map and the chosen point's index
    (about 25 us for a 15x15 map: it runs on every frame)."""
    p = np.asarray(score, np.float64)
    s = int(round(math.sqrt(p.size)))
    m = p.reshape(s, s)
    top = int(p.argmax())
    hi, lo = float(p[top]), float(p.min())
    energy = float(np.dot(p - lo, p - lo)) / p.size
    apce = (hi - lo) ** 2 / energy if energy > 1e-12 else 1.0
    i, j = divmod(top, s)
    window = m[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
    n = p.size - window.size  # the sidelobe: the map outside the 3x3 points around the maximum
    if n > 0:
        total, squares = float(p.sum()) - float(window.sum()), float(np.dot(p, p)) - float((window * window).sum())
        mean = total / n
        std = math.sqrt(max(squares / n - mean * mean, 0.0))
        psr = (hi - mean) / (std + 1e-6)
    else:
        psr = 0.0
    # the strongest other local maximum (a point not smaller than its 8 neighbours) outside that window
    m32 = m.astype(np.float32)
    peaks = m32 >= cv2.dilate(m32, _NEIGHBOURS, borderType=cv2.BORDER_REPLICATE)
    peaks[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2] = False
    second = float(m[peaks].max()) / hi if peaks.any() and hi > 1e-12 else 0.0
    return np.array([float(p[best]), hi, math.log(max(apce, 1e-6)), psr, second])


def _design(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, np.float64))
    return np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)


def confidence(features: np.ndarray, weights) -> np.ndarray | float:
    """Calibrated confidence(s) in [0, 1] from features (one row per frame) and logistic weights (bias first)."""
    z = _design(features) @ np.asarray(weights, np.float64)
    out = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    return float(out[0]) if np.ndim(features) == 1 else out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iterations: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method (IRLS) with a small L2 penalty (not on the bias); bias first."""
    a = _design(x)
    y = np.asarray(y, np.float64)
    w = np.zeros(a.shape[1])
    reg = np.full(a.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -50, 50)))
        grad = a.T @ (p - y) + reg * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(reg) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative (ties 1/2)."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    pos, neg = s[y], s[~y]
    if not pos.size or not neg.size:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(order.size)
    allv = np.concatenate([pos, neg])[order]
    # average ranks over ties
    i = 0
    while i < allv.size:
        j = i
        while j + 1 < allv.size and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def log_loss(probabilities: np.ndarray, labels: np.ndarray, eps: float = 1e-6) -> float:
    """Mean negative log-likelihood of the labels under the probabilities (clipped to [eps, 1 - eps]): lower is
    better; a constant probability equal to the share of positives scores the labels' entropy."""
    p = np.clip(np.asarray(probabilities, np.float64), eps, 1.0 - eps)
    y = np.asarray(labels, bool)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def reliability(conf: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean confidence, observed rate, frames) per confidence bin: the data of a reliability plot."""
    conf = np.asarray(conf, np.float64)
    labels = np.asarray(labels, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges) - 1, 0, bins - 1)
    return [(float(conf[idx == b].mean()), float(labels[idx == b].mean()), int((idx == b).sum()))
            for b in range(bins) if (idx == b).any()]

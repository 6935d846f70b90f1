"""The network's maps as boxes: foreground probabilities and the box each point predicts, for N targets (or N crops
of one) at once. Used by the single tracker, :class:`~siamcan.tracking.multi.MultiTracker` and re-detection
(:mod:`siamcan.tracking.redetect`)."""
from __future__ import annotations

import numpy as np

from ..errors import SiamcanError


def softmax_fg(cls: np.ndarray) -> np.ndarray:
    """Foreground probability from (2, H, W) logits, flattened; from (N, 2, H, W): (N, H*W)."""
    c = cls.reshape(-1, 2, cls.shape[-2] * cls.shape[-1]).astype(np.float64)
    m = c.max(axis=1, keepdims=True)
    e = np.exp(c - m)
    p = e[:, 1] / e.sum(axis=1)
    return p if cls.ndim == 4 else p[0]


def decode_maps(cls: np.ndarray, loc: np.ndarray, points: np.ndarray, limit: float):
    """The maps of N targets, (N, 2, S, S) logits and (N, 4, S, S) l,t,r,b, as each point's foreground probability
    and predicted box (centre offset from the crop centre, width, height; crop pixels), five (N, S*S) arrays.

    NaN/inf in the maps (a diverged model, fp16 overflow) must not reach the state: a NaN score counts as 0,
    distances are clamped to ``limit`` (finite, so every penalty stays finite)."""
    cls = np.asarray(cls, np.float64)
    if not (np.isfinite(cls).all() and np.abs(cls).max() <= 1e4):  # the checks cost more than the maths
        cls = np.clip(np.nan_to_num(cls, nan=0.0), -1e4, 1e4)
    score = softmax_fg(cls)
    d = np.asarray(loc, np.float64).reshape(len(cls), 4, -1)
    if not np.isfinite(d).all():
        d = np.nan_to_num(d, nan=0.0)
    d = np.clip(d, -limit, limit)
    x1 = points[:, 0] - d[:, 0]
    y1 = points[:, 1] - d[:, 1]
    x2 = points[:, 0] + d[:, 2]
    y2 = points[:, 1] + d[:, 3]
    return score, (x1 + x2) / 2, (y1 + y2) / 2, np.maximum(x2 - x1, 1e-6), np.maximum(y2 - y1, 1e-6)


def check_map_size(cls, loc, n: int) -> None:
    if np.shape(cls)[-2:] != (n, n) or np.shape(loc)[-2:] != (n, n):
        raise SiamcanError(f"the network gives {np.shape(cls)[-1]}x{np.shape(cls)[-2]} score maps but "
                           f"tracker.score_size is {n}: the tracker sizes do not fit this model")


def crop_maps(engine, crops: np.ndarray, states, score_size: int, stacked=None) -> tuple[np.ndarray, np.ndarray]:
    """The maps of N search crops (NxHxWx3), crop ``i`` against template state ``states[i]``: (N, 2, S, S) logits and
    (N, 4, S, S) distances. One engine call (``track_batch``) where the engine takes batches and ``stacked`` (a
    function giving the states stacked, which the caller keeps between frames) is given; otherwise one call a crop."""
    if stacked is not None and hasattr(engine, "track_batch"):
        cls, loc = engine.track_batch(crops, stacked())
    else:
        outs = [engine.track(c, st) for c, st in zip(crops, states)]
        cls, loc = np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs])
    check_map_size(cls, loc, score_size)
    return np.asarray(cls), np.asarray(loc)

"""Classification / regression targets on the score-map grid (SPEC §2, paper eq. 10-14).

The grid (``points``: (2, S, S) x/y maps in search-crop pixels) comes from the crop geometry of the config,
:meth:`siamcan.geometry.CropGeometry.points` (SiamCAN-lite/r50: 25x25, stride 8; siamcan-nano: 15x15, stride 16).

Label values: ``1`` positive, ``0`` negative, ``-1`` ignored (the paper writes 0 for "ignore"; the code of
SiamBAN/pysot uses -1). Four positive rules (paper Table 3):

* ``circle``: inside the circle C2 of radius r = (w/2 * h/2) / sqrt((w/2)^2 + (h/2)^2);
* ``ellipse`` (SiamBAN): inside the ellipse E2 with semi-axes w/4, h/4;
* ``ellipse_centerness``: as ``ellipse``, plus a FCOS centerness target;
* ``ellipse_circle`` (SiamCAN): inside C2.

Every variant: negative outside the ellipse E1 (semi-axes w/2, h/2), ignore in between; inequalities strict.
At most ``pos_num`` positives and ``neg_num`` negatives are kept, sampled uniformly without replacement.
A negative pair (template and search of different objects) has no positives: the points inside the
(w/4, h/4) ellipse of the unrelated object are negatives (at most ``neg_pair_num``), all else is ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import LABEL_TYPES
from ..geometry import CropGeometry


def _default_points() -> np.ndarray:
    return CropGeometry().points()



@dataclass(frozen=True)
class Targets:
    """Per-pair training targets: ``label`` (S,S) int64, ``loc`` (4,S,S) float32 l,t,r,b, ``cen`` (S,S) float32."""

    label: np.ndarray
    loc: np.ndarray
    cen: np.ndarray


def _sample(mask: np.ndarray, keep: int, rng: np.random.Generator) -> np.ndarray:
    """Flat indices of at most ``keep`` True entries of ``mask``, uniformly without replacement."""
    idx = np.flatnonzero(mask)
    if len(idx) > keep:
        idx = rng.choice(idx, keep, replace=False)
    return idx


def region_masks(box: np.ndarray, label_type: str, points: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positive region, negative region, small ellipse E2) masks for a box (x1, y1, x2, y2) in crop pixels."""
    if label_type not in LABEL_TYPES:
        raise ValueError(f"unknown label type '{label_type}' (choose from {', '.join(LABEL_TYPES)})")
    pts = _default_points() if points is None else points
    px, py = pts[0], pts[1]
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
    dx, dy = px - cx, py - cy
    e1 = dx ** 2 / (w / 2) ** 2 + dy ** 2 / (h / 2) ** 2
    e2 = dx ** 2 / (w / 4) ** 2 + dy ** 2 / (h / 4) ** 2
    r = (w / 2) * (h / 2) / np.sqrt((w / 2) ** 2 + (h / 2) ** 2)
    circle = dx ** 2 + dy ** 2 < r ** 2
    ellipse_small = e2 < 1
    pos = circle if label_type in ("circle", "ellipse_circle") else ellipse_small
    neg = e1 > 1
    return pos, neg, ellipse_small


def regression_targets(box: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """l, t, r, b = px - x1, py - y1, x2 - px, y2 - py at every grid point: (4, S, S) float32."""
    pts = _default_points() if points is None else points
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.stack([pts[0] - x1, pts[1] - y1, x2 - pts[0], y2 - pts[1]]).astype(np.float32)


def centerness_targets(loc: np.ndarray) -> np.ndarray:
    """FCOS centerness sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)); 0 where the point is outside the box."""
    l, t, r, b = loc
    inside = (l > 0) & (t > 0) & (r > 0) & (b > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.sqrt(np.minimum(l, r) / np.maximum(l, r) * np.minimum(t, b) / np.maximum(t, b))
    return np.where(inside, c, 0.0).astype(np.float32)


def make_targets(box: np.ndarray, label_type: str, negative_pair: bool, rng: np.random.Generator,
                 pos_num: int = 16, neg_num: int = 48, neg_pair_num: int = 16,
                 points: np.ndarray | None = None) -> Targets:
    """All targets of one search crop; ``box`` = (x1, y1, x2, y2) of the (search-image) object in crop pixels."""
    pts = _default_points() if points is None else points
    size = pts.shape[1:]
    label = np.full(size, -1, np.int64)
    pos, neg, small = region_masks(box, label_type, pts)
    flat = label.reshape(-1)
    if negative_pair:
        flat[_sample(small, neg_pair_num, rng)] = 0
    else:
        flat[_sample(pos, pos_num, rng)] = 1
        flat[_sample(neg, neg_num, rng)] = 0
    loc = regression_targets(box, pts)
    return Targets(label=label, loc=loc, cen=centerness_targets(loc))

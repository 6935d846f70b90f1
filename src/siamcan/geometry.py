"""Crop geometry: the one place that knows the template/search crop sizes, the stride and the score-map grid.

Every part that cuts crops or works on the score map (tracker, training pairs, augmentation, labels, teacher,
export, benchmarks) takes a :class:`CropGeometry` built from the config's ``tracker`` section
(:meth:`CropGeometry.from_config`), so a model with another stride or search size changes one YAML file.

The score map has ``score_size`` x ``score_size`` points, ``stride`` pixels apart, centred on the search crop:
point ``i`` sits at ``instance_size // 2 + (i - score_size // 2) * stride`` search-crop pixels (pysot's and
SiamBAN's grid; SiamCAN-lite/r50: 31 + 8i on a 255 crop, NanoTrack v3 / siamcan-nano: 15 + 16i).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import SiamcanError


def context_size(w: float, h: float, context_amount: float = 0.5) -> float:
    """s_z = sqrt((w + c(w+h)) (h + c(w+h))): side of the template context square."""
    p = context_amount * (w + h)
    return math.sqrt((w + p) * (h + p))


@dataclass(frozen=True)
class CropGeometry:
    exemplar_size: int = 127  # template crop side (pixels fed to the network)
    instance_size: int = 255  # search crop side
    stride: int = 8  # score-map point spacing in search-crop pixels
    score_size: int = 25  # score-map side (points)
    context_amount: float = 0.5  # s_z = sqrt((w + c(w+h)) (h + c(w+h)))

    def __post_init__(self) -> None:
        for key in ("exemplar_size", "instance_size", "stride", "score_size"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise SiamcanError(f"crop geometry: '{key}' must be a positive integer, got {v!r}")
        c = self.context_amount
        if not (isinstance(c, (int, float)) and math.isfinite(c) and c >= 0):
            raise SiamcanError(f"crop geometry: 'context_amount' must be a finite number >= 0, got {c!r}")
        if self.instance_size < self.exemplar_size:
            raise SiamcanError(f"crop geometry: instance_size ({self.instance_size}) is smaller than exemplar_size "
                               f"({self.exemplar_size})")
        if (self.instance_size - self.exemplar_size) % self.stride:
            raise SiamcanError(f"crop geometry: instance_size - exemplar_size ({self.instance_size} - "
                               f"{self.exemplar_size}) must be a multiple of the stride ({self.stride}), so that the "
                               f"score grid falls on the network's output cells (e.g. {self.exemplar_size} + "
                               f"{self.stride}k: {self.exemplar_size + 16 * self.stride}, "
                               f"{self.exemplar_size + 17 * self.stride}, ...)")
        lo, hi = self.grid()[[0, -1]]
        if lo < -self.stride or hi > self.instance_size - 1 + self.stride:  # NanoTrack v2's grid starts at -1 px
            raise SiamcanError(f"crop geometry: a {self.score_size}x{self.score_size} score map with stride "
                               f"{self.stride} spans {hi - lo:g} px, more than the {self.instance_size}-px search crop")

    @classmethod
    def from_config(cls, tracker_cfg) -> "CropGeometry":
        """From a :class:`~siamcan.config.TrackerConfig` (or any object with the same attributes)."""
        t = tracker_cfg
        return cls(t.exemplar_size, t.instance_size, t.stride, t.score_size, t.context_amount)

    # ------------------------------------------------------------------------------------------ crops
    @property
    def search_scale(self) -> float:
        """Search crop side / template crop side (s_x = s_z * this)."""
        return self.instance_size / self.exemplar_size

    def context_size(self, w: float, h: float) -> float:
        """s_z: side of the template context square of a w x h target (:func:`context_size`)."""
        return context_size(w, h, self.context_amount)

    # ------------------------------------------------------------------------------------ score grid
    def grid(self) -> np.ndarray:
        """Point positions along one axis, search-crop pixels (float64, length ``score_size``)."""
        return self.instance_size // 2 + (np.arange(self.score_size) - self.score_size // 2) * float(self.stride)

    def offsets(self) -> np.ndarray:
        """Points relative to the search-crop centre, (score_size**2, 2) as (x, y), row-major (y outer)."""
        xs = self.grid() - self.instance_size // 2
        x, y = np.meshgrid(xs, xs)
        return np.stack([x.ravel(), y.ravel()], axis=1)

    def points(self) -> np.ndarray:
        """Points in search-crop pixels, (2, score_size, score_size) as (x, y) maps (training labels)."""
        g = self.grid()
        x, y = np.meshgrid(g, g)
        return np.stack([x, y])

    def window(self) -> np.ndarray:
        """Cosine (Hann) window over the score map, flattened (score_size**2,)."""
        h = np.hanning(self.score_size)
        return np.outer(h, h).ravel()

    def resample_index(self, other: "CropGeometry") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bilinear resampling from ``other``'s score grid onto this one, along one axis: for each of our points
        the indices (i0, i0 + 1) into ``other``'s grid and the weight of i0 + 1. Raises if ``other`` does not
        cover our grid (a teacher with another stride or map size, :mod:`siamcan.data.teacher`)."""
        g, o = self.grid(), other.grid()
        t = (g - o[0]) / other.stride
        if t.min() < -1e-9 or t.max() > other.score_size - 1 + 1e-9:
            raise SiamcanError(f"a {other.score_size}x{other.score_size} map of stride {other.stride} does not cover "
                               f"the {self.score_size}x{self.score_size} map of stride {self.stride}")
        t = np.clip(t, 0, other.score_size - 1)
        i0 = np.minimum(np.floor(t + 1e-9).astype(int), max(other.score_size - 2, 0))
        i1 = np.minimum(i0 + 1, other.score_size - 1)
        return i0, i1, (t - i0).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) ``x, y, w, h`` arrays, clipped to [0, 1]; NaN where an input is NaN."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    left = np.maximum(a[:, 0], b[:, 0])
    right = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    top = np.maximum(a[:, 1], b[:, 1])
    bottom = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.maximum(0.0, right - left) * np.maximum(0.0, bottom - top)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    return np.clip(iou, 0.0, 1.0)


def polygon_to_init_rect(region: Sequence[float]) -> list[float]:
    """Axis-aligned init box of a VOT polygon (pysot ``get_axis_aligned_bbox``, SPEC §5), as ``x, y, w, h``."""
    r = np.asarray(region, dtype=float).ravel()
    if r.size == 4:
        return [float(v) for v in r]
    p = r.reshape(-1, 2)
    cx, cy = p[:, 0].mean(), p[:, 1].mean()
    x1, y1 = p[:, 0].min(), p[:, 1].min()
    x2, y2 = p[:, 0].max(), p[:, 1].max()
    a1 = float(np.linalg.norm(p[0] - p[1]) * np.linalg.norm(p[1] - p[2]))
    a2 = float((x2 - x1) * (y2 - y1))
    s = math.sqrt(a1 / a2) if a2 > 0 else 1.0
    w = s * (x2 - x1) + 1
    h = s * (y2 - y1) + 1
    return [float(cx - (w - 1) / 2), float(cy - (h - 1) / 2), float(w), float(h)]


def polygons_to_rects(regions: np.ndarray) -> np.ndarray:
    """(N, 8) VOT polygons -> (N, 4) ``x, y, w, h``: :func:`polygon_to_init_rect` of every row at once (the boxes of
    a polygon-annotated sequence); rows with a NaN stay NaN."""
    p = np.asarray(regions, dtype=float).reshape(len(regions), -1, 2)
    c = p.mean(axis=1)
    lo, hi = p.min(axis=1), p.max(axis=1)
    a1 = np.linalg.norm(p[:, 0] - p[:, 1], axis=1) * np.linalg.norm(p[:, 1] - p[:, 2], axis=1)
    a2 = (hi[:, 0] - lo[:, 0]) * (hi[:, 1] - lo[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(a2 > 0, np.sqrt(a1 / np.where(a2 > 0, a2, 1.0)), 1.0)
    wh = s[:, None] * (hi - lo) + 1
    out = np.concatenate([c - (wh - 1) / 2, wh], axis=1)
    out[np.isnan(p).any(axis=(1, 2))] = np.nan
    return out

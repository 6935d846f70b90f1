"""Box and polygon geometry for benchmark scoring (pure numpy, no compiled code).

Conventions (pysot toolkit, SPEC §5): boxes are ``x, y, w, h`` with ``x2 = x + w`` (no -1); VOT regions are
8-value polygons ``x1, y1, ..., x4, y4`` or 4-value rectangles.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..geometry import box_iou, polygon_to_init_rect  # noqa: F401  (shared with training and the dataset
#                                                          readers: they live in the geometry layer)


def box_centers(boxes: np.ndarray) -> np.ndarray:
    """Centres ``x + (w - 1) / 2, y + (h - 1) / 2`` of (N, 4) boxes (OTB / pysot convention)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return np.stack([boxes[:, 0] + (boxes[:, 2] - 1) / 2, boxes[:, 1] + (boxes[:, 3] - 1) / 2], axis=1)


def rect_to_polygon(rect: Sequence[float]) -> np.ndarray:
    """``x, y, w, h`` -> (4, 2) corner array, clockwise from the top-left."""
    x, y, w, h = (float(v) for v in rect)
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def region_to_polygon(region: Sequence[float]) -> np.ndarray:
    """A 4-value rectangle or a 2k-value polygon -> (k, 2) vertex array."""
    r = np.asarray(region, dtype=float).ravel()
    if r.size == 4:
        return rect_to_polygon(r)
    if r.size < 6 or r.size % 2:
        raise ValueError(f"a region needs 4 values (rect) or an even number >= 6 (polygon), got {r.size}")
    return r.reshape(-1, 2)


def _clip_half_plane(poly: list[tuple[float, float]], axis: int, value: float, keep_less: bool
                     ) -> list[tuple[float, float]]:
    """One Sutherland-Hodgman pass: keep the part of ``poly`` with ``p[axis] <= value`` (or ``>=``)."""
    if not poly:
        return poly
    sign = 1.0 if keep_less else -1.0
    out: list[tuple[float, float]] = []
    prev = poly[-1]
    prev_in = sign * (prev[axis] - value) <= 0
    for cur in poly:
        cur_in = sign * (cur[axis] - value) <= 0
        if cur_in != prev_in:
            t = (value - prev[axis]) / (cur[axis] - prev[axis])
            cross = (prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1]))
            out.append((value, cross[1]) if axis == 0 else (cross[0], value))
        if cur_in:
            out.append(cur)
        prev, prev_in = cur, cur_in
    return out


def clip_polygon_to_rect(poly: np.ndarray, left: float, top: float, right: float, bottom: float
                         ) -> list[tuple[float, float]]:
    """Clip any simple polygon (k, 2) to the axis-aligned window [left, right] x [top, bottom]."""
    pts = [(float(x), float(y)) for x, y in poly]
    pts = _clip_half_plane(pts, 0, left, keep_less=False)
    pts = _clip_half_plane(pts, 0, right, keep_less=True)
    pts = _clip_half_plane(pts, 1, top, keep_less=False)
    return _clip_half_plane(pts, 1, bottom, keep_less=True)


def polygon_area(poly: Sequence[tuple[float, float]] | np.ndarray) -> float:
    """Absolute shoelace area; 0 for fewer than 3 vertices."""
    p = np.asarray(poly, dtype=float).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2.0


def region_overlap(region: Sequence[float], gt: Sequence[float], bounds: tuple[float, float] | None = None
                   ) -> float:
    """Overlap (IoU) of a tracker region and a ground-truth region, both clipped to ``[0, W] x [0, H]``.

    ``region`` must be a rectangle ``x, y, w, h`` (what trackers output) or an axis-aligned polygon; ``gt`` may be
    any simple polygon (VOT rotated boxes) or a rectangle. The intersection is exact: the gt polygon is clipped
    (Sutherland-Hodgman) to the window rect ∩ bounds and measured with the shoelace formula.
    NaN when either region has a NaN coordinate.
    """
    r = np.asarray(region, dtype=float).ravel()
    g = np.asarray(gt, dtype=float).ravel()
    if np.isnan(r).any() or np.isnan(g).any():
        return math.nan
    if r.size == 4:
        rl, rt, rr, rb = r[0], r[1], r[0] + r[2], r[1] + r[3]
    else:
        rp = region_to_polygon(r)
        rl, rt = rp.min(axis=0)
        rr, rb = rp.max(axis=0)
    if bounds is None:
        bl, bt, br, bb = -math.inf, -math.inf, math.inf, math.inf
    else:
        bl, bt, br, bb = 0.0, 0.0, float(bounds[0]), float(bounds[1])
    # the tracker region restricted to the image
    wl, wt, wr, wb = max(rl, bl), max(rt, bt), min(rr, br), min(rb, bb)
    area_r = max(0.0, wr - wl) * max(0.0, wb - wt)
    gpoly = region_to_polygon(g)
    area_g = polygon_area(clip_polygon_to_rect(gpoly, bl, bt, br, bb)) if bounds is not None \
        else polygon_area(gpoly)
    inter = polygon_area(clip_polygon_to_rect(gpoly, wl, wt, wr, wb)) if area_r > 0 else 0.0
    union = area_r + area_g - inter
    if union <= 0:
        return 0.0
    return min(1.0, max(0.0, inter / union))


def _row_intervals(polys: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Scan-line fill of N polygons (N, k, 2) over rows ``0..height-1``, as the VOT toolkit's
    ``rasterize_polygon``: crossings at integer row ``y`` (half-open edge rule), x truncated toward zero, the
    pixels ``[x_a, x_b)`` of each sorted crossing pair filled, clamped to ``[0, width]``.
    Returns (N, rows, pairs, 2) interval ends (empty intervals as ``[0, 0]``)."""
    xs, ys = polys[:, None, :, 0], polys[:, None, :, 1]                 # (N, 1, k)
    xj, yj = np.roll(xs, 1, axis=2), np.roll(ys, 1, axis=2)
    rows = np.arange(int(heights.max()), dtype=float)[None, :, None]    # (1, R, 1)
    cross = ((ys < rows) & (yj >= rows)) | ((yj < rows) & (ys >= rows))
    cross &= rows < heights[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        nodes = np.trunc(xs + (rows - ys) / (yj - ys) * (xj - xs))
    nodes = np.where(cross, nodes, np.inf)
    nodes.sort(axis=2)
    k = nodes.shape[2] // 2 * 2
    pairs = nodes[:, :, :k].reshape(nodes.shape[0], nodes.shape[1], -1, 2)
    w = widths[:, None, None]
    left, right = pairs[..., 0], pairs[..., 1]
    live = np.isfinite(left) & np.isfinite(right) & (left < w) & (right > 0)
    left = np.clip(left, 0, None)
    right = np.minimum(right, w)
    return np.stack([np.where(live, left, 0.0), np.where(live, right, 0.0)], axis=-1)


def _as_polygons(regions: np.ndarray) -> np.ndarray:
    """(N, 4) rects or (N, 2k) polygons -> (N, max(4, k), 2) vertices."""
    r = np.asarray(regions, dtype=float)
    if r.shape[1] == 4:
        x, y, w, h = r.T
        return np.stack([np.stack([x, y], 1), np.stack([x + w, y], 1), np.stack([x + w, y + h], 1),
                         np.stack([x, y + h], 1)], axis=1)
    return r.reshape(len(r), -1, 2)


def region_overlaps_raster(regions: np.ndarray, gts: np.ndarray, bounds: tuple[float, float] | None = None
                           ) -> np.ndarray:
    """Row-wise overlap of N tracker regions and N ground-truth regions measured on the pixel grid exactly as
    the VOT toolkit (``region.c compute_polygon_overlap``, used by pysot): both polygons are rasterised inside
    the window spanned by their bounds-clipped bounding boxes and the filled pixels are counted. Published VOT
    accuracy / EAO values were computed this way; :func:`region_overlap` is the exact-area variant.
    NaN rows give NaN."""
    p1, p2 = _as_polygons(regions), _as_polygons(gts)
    n = len(p1)
    out = np.full(n, np.nan)
    ok = ~(np.isnan(p1).any(axis=(1, 2)) | np.isnan(p2).any(axis=(1, 2)))
    if not ok.any():
        return out
    p1, p2 = p1[ok], p2[ok]
    lo_b = np.array([0.0, 0.0]) if bounds is not None else np.array([-np.inf, -np.inf])
    hi_b = np.array([float(bounds[0]), float(bounds[1])]) if bounds is not None else np.array([np.inf, np.inf])
    mins = np.minimum(np.maximum(p1.min(axis=1), lo_b), np.maximum(p2.min(axis=1), lo_b))   # window origin
    maxs = np.maximum(np.minimum(p1.max(axis=1), hi_b), np.minimum(p2.max(axis=1), hi_b))
    size = np.trunc(maxs - mins) + 1                                                          # (int)(...) + 1
    widths, heights = size[:, 0], size[:, 1]
    good = (widths >= 1) & (heights >= 1)
    res = np.zeros(len(p1))
    if good.any():
        off = mins[good][:, None, :]
        i1 = _row_intervals(p1[good] - off, heights[good], widths[good])
        i2 = _row_intervals(p2[good] - off, heights[good], widths[good])
        vol1 = np.maximum(0, i1[..., 1] - i1[..., 0]).sum(axis=(1, 2))
        vol2 = np.maximum(0, i2[..., 1] - i2[..., 0]).sum(axis=(1, 2))
        lo = np.maximum(i1[:, :, :, None, 0], i2[:, :, None, :, 0])
        hi = np.minimum(i1[:, :, :, None, 1], i2[:, :, None, :, 1])
        inter = np.maximum(0, hi - lo).sum(axis=(1, 2, 3))
        union = vol1 + vol2 - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            res[good] = np.where(union > 0, inter / union, 0.0)
    out[ok] = res
    return out


def region_overlap_raster(region: Sequence[float], gt: Sequence[float],
                          bounds: tuple[float, float] | None = None) -> float:
    """One-pair :func:`region_overlaps_raster`."""
    r = np.asarray(region, dtype=float).reshape(1, -1)
    g = np.asarray(gt, dtype=float).reshape(1, -1)
    return float(region_overlaps_raster(r, g, bounds)[0])

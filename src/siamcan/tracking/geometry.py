"""Box conversions, the template/search crop and the scale/ratio penalty (SPEC §1, §4); the score-map grid is
:class:`siamcan.geometry.CropGeometry`."""
from __future__ import annotations

import math

import cv2
import numpy as np


def xywh_to_cxcywh(box) -> np.ndarray:
    """[x, y, w, h] (top-left, 0-based) -> [cx, cy, w, h] with pysot's centre x + (w-1)/2."""
    x, y, w, h = (float(v) for v in box)
    return np.array([x + (w - 1) / 2, y + (h - 1) / 2, w, h])


def cxcywh_to_xywh(box) -> np.ndarray:
    """Inverse of :func:`xywh_to_cxcywh`."""
    cx, cy, w, h = (float(v) for v in box)
    return np.array([cx - (w - 1) / 2, cy - (h - 1) / 2, w, h])


MAX_CROP_TO_FRAME = 16  # the tracker's crops stay below ~9x the frame side (init box at most 2x the frame)


def crop_patch(img: np.ndarray, center, out_size: int, crop_size: int, pad_value) -> np.ndarray:
    """Square crop of side ``crop_size`` centred at ``center``, padded with ``pad_value``, resized to ``out_size``.

    Same pixels as pysot's ``get_subwindow``: origin floor(c - (sz+1)/2 + 0.5), out-of-image area filled with the
    per-channel mean (as uint8), bilinear resize. Returns HxWx3 uint8.
    """
    sz = int(crop_size)
    if sz < 1:
        raise ValueError(f"crop size must be >= 1, got {crop_size}")
    ih, iw = img.shape[:2]
    if sz > MAX_CROP_TO_FRAME * max(iw, ih, out_size):  # never allocate a padded patch of many GiB
        from ..errors import SiamcanError

        raise SiamcanError(f"a {sz} px crop from a {iw}x{ih} frame is too large: the box is far larger than the frame")
    c = (sz + 1) / 2
    xmin = int(math.floor(center[0] - c + 0.5))
    ymin = int(math.floor(center[1] - c + 0.5))
    xmax, ymax = xmin + sz, ymin + sz  # exclusive
    if xmin >= 0 and ymin >= 0 and xmax <= iw and ymax <= ih:
        patch = img[ymin:ymax, xmin:xmax]
    else:
        patch = np.empty((sz, sz, img.shape[2]), np.uint8)
        patch[:] = np.asarray(pad_value, dtype=np.float64).astype(np.uint8)
        x0, y0 = max(xmin, 0), max(ymin, 0)
        x1, y1 = min(xmax, iw), min(ymax, ih)
        if x1 > x0 and y1 > y0:
            patch[y0 - ymin:y1 - ymin, x0 - xmin:x1 - xmin] = img[y0:y1, x0:x1]
    if sz != out_size:
        patch = cv2.resize(patch, (out_size, out_size))
    return np.ascontiguousarray(patch)


def change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def size_with_context(w, h):
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


def penalty_map(pred_w: np.ndarray, pred_h: np.ndarray, w: float, h: float, penalty_k: float) -> np.ndarray:
    """Scale/ratio change penalty (SPEC §4); (w, h) is the current target size in crop pixels."""
    s_c = change(size_with_context(pred_w, pred_h) / size_with_context(w, h))
    r_c = change((w / h) / (pred_w / pred_h))
    return np.exp(-(r_c * s_c - 1) * penalty_k)

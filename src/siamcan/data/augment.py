"""On-the-fly template / search crops with pysot's augmentations (SPEC §3).

pysot first crops every frame to a 511x511 patch centred on the target (context rule, target scaled by 127/s_z)
and then cuts the ``size`` x ``size`` training crop out of it with a random scale and shift. Here the same
geometry is composed into one affine map applied to the raw frame, so nothing is written to disk:

    raw pixel X  ->  virtual 511 pixel  v = (X - cx) * 127 / s_z + 255
                 ->  output pixel       u = (v - x1c) * (size - 1) / (x2c - x1c)

with the virtual crop box (x1c, x2c) = 255 -+ (size - 1) * scale / 2 + shift, clamped to the 511 window exactly as
pysot does. (127 is the template crop size and 511 = 2 x 255 + 1 with 255 the search crop size: both come from the
crop geometry of the config, :class:`~siamcan.geometry.CropGeometry`.) Outside the frame the crop is filled with the
frame's per-channel mean. Order: gray -> shift/scale
crop -> colour (PCA jitter, pysot's rgbVar) -> motion blur -> flip. Gray is applied to the crop (identical to
graying the frame first, the fill colour included).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..config import AugConfig
from ..geometry import CropGeometry

# pysot datasets/augmentation.py: PCA colour noise in RGB order
RGB_VAR = np.array([[-0.55919361, 0.98062831, -0.41940627],
                    [1.72091413, 0.19879334, -1.82968581],
                    [4.64467907, 4.73710203, 4.88324118]], dtype=np.float32)
DEFAULT_GEOMETRY = CropGeometry()


def virtual_size(geometry: CropGeometry) -> int:
    """Side of pysot's pre-cropped patch (511 for a 255 search crop)."""
    return 2 * geometry.instance_size + 1


def _u(rng: np.random.Generator) -> float:
    """Uniform in [-1, 1)."""
    return float(rng.random() * 2 - 1)


def motion_blur_kernel(rng: np.random.Generator) -> np.ndarray:
    """pysot's random motion-blur kernel: odd size 5..45, a weighted horizontal + vertical line."""
    size = int(rng.choice(np.arange(5, 46, 2)))
    k = np.zeros((size, size), np.float32)
    c = size // 2
    wx = float(rng.random())
    k[:, c] += 1.0 / size * wx
    k[c, :] += 1.0 / size * (1 - wx)
    return k


def augmented_crop(img: np.ndarray, box: np.ndarray, size: int, aug: AugConfig, rng: np.random.Generator,
                   gray: bool = False, crop511: bool = False, geometry: CropGeometry = DEFAULT_GEOMETRY
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Training crop of side ``size`` around ``box`` (x, y, w, h in ``img`` pixels).

    ``crop511``: ``img`` is a pysot 511 crop and ``box`` its original-frame box (only w, h are used: the target is
    at the image centre, scaled by 127/s_z). ``geometry`` gives the template size (the target's scale), the
    virtual crop and the context amount. Returns the crop (size, size, 3) float32 BGR and the object's box
    (x1, y1, x2, y2) in crop pixels.
    """
    x, y, w, h = (float(v) for v in box)
    ih, iw = img.shape[:2]
    ez = float(geometry.exemplar_size)
    virtual = virtual_size(geometry)
    if crop511:
        s = ez / geometry.context_size(w, h)
        w, h = w * s, h * s
        cx, cy = (iw - 1) / 2, (ih - 1) / 2
    else:
        cx, cy = x + (w - 1) / 2, y + (h - 1) / 2
    k = ez / geometry.context_size(w, h)
    centre = virtual // 2
    # scale then shift of the virtual crop box, clamped like pysot's _shift_scale_aug
    cw = ch = float(size - 1)
    if aug.scale:
        sx, sy = 1 + _u(rng) * aug.scale, 1 + _u(rng) * aug.scale
        cw *= min(sx, virtual / cw)
        ch *= min(sy, virtual / ch)
    x1c, y1c = centre - cw / 2, centre - ch / 2
    x2c, y2c = centre + cw / 2, centre + ch / 2
    if aug.shift:
        tx, ty = _u(rng) * aug.shift, _u(rng) * aug.shift
        tx = max(-x1c, min(virtual - 1 - x2c, tx))
        ty = max(-y1c, min(virtual - 1 - y2c, ty))
        x1c, x2c, y1c, y2c = x1c + tx, x2c + tx, y1c + ty, y2c + ty
    ax, ay = (size - 1) / (x2c - x1c), (size - 1) / (y2c - y1c)
    A = np.array([k * ax, k * ay])
    B = np.array([(centre - x1c - cx * k) * ax, (centre - y1c - cy * k) * ay])
    mean = cv2.mean(img)[:3]
    M = np.array([[A[0], 0, B[0]], [0, A[1], B[1]]], np.float64)
    patch = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=mean)
    bx = np.array([A[0] * (cx - w / 2) + B[0], A[1] * (cy - h / 2) + B[1],
                   A[0] * (cx + w / 2) + B[0], A[1] * (cy + h / 2) + B[1]], np.float32)
    if gray:
        patch = cv2.cvtColor(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    out = patch.astype(np.float32)
    if aug.color > rng.random():
        offset = (RGB_VAR @ rng.standard_normal((3, 1)).astype(np.float32))[::-1].reshape(3)  # RGB -> BGR
        out = out - offset
    if aug.blur > rng.random():
        out = cv2.filter2D(out, -1, motion_blur_kernel(rng))
    if aug.flip > rng.random():
        out = np.ascontiguousarray(out[:, ::-1])
        bx = np.array([size - 1 - bx[2], bx[1], size - 1 - bx[0], bx[3]], np.float32)
    return out, bx

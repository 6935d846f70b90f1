"""The built-in demo clip: generated deterministically from a real photograph shipped with matplotlib.

``grace_hopper.jpg`` (matplotlib's sample data; matplotlib is a dependency) provides both the target - the face and
shoulders, cut out as a rounded patch - and the scene: a mirrored, shifted, colour-changed, enlarged copy of the same
photo. The target moves along a smooth Lissajous path with a smooth scale change while the camera pans, so the
ground-truth box of every frame is known exactly.
"""
from __future__ import annotations

import math
from typing import Iterator

import cv2
import numpy as np

from .errors import SiamcanError

FRAME_W, FRAME_H = 480, 360


def source_photo() -> np.ndarray:
    import matplotlib.cbook as cbook

    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except Exception as e:  # pragma: no cover - matplotlib always ships it
        raise SiamcanError(f"matplotlib's sample photo grace_hopper.jpg is missing: {e}") from None
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SiamcanError(f"cannot decode {path}")
    return img


def _scene(photo: np.ndarray) -> np.ndarray:
    """A 1.6x frame-sized canvas from the photo: mirrored tiles, shifted hue, mild blur."""
    h, w = photo.shape[:2]
    tile = np.concatenate([cv2.flip(photo, 1), photo[:, ::-1][:, ::-1]], axis=1)
    tile = np.concatenate([tile, cv2.flip(tile, 0)], axis=0)
    canvas = cv2.resize(tile, (int(FRAME_W * 1.6), int(FRAME_H * 1.6)), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(canvas, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 60) % 180
    hsv[..., 1] = (hsv[..., 1] * 0.6).astype(np.uint8)
    canvas = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    return cv2.GaussianBlur(canvas, (5, 5), 0)


def _target(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face-and-shoulders patch of the photo and its soft rounded alpha mask."""
    patch = photo[40:400, 96:416]  # rows, cols: 360 x 320
    ph, pw = patch.shape[:2]
    mask = np.zeros((ph, pw), np.float32)
    cv2.ellipse(mask, (pw // 2, ph // 2), (pw // 2 - 4, ph // 2 - 4), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (9, 9), 0)
    return patch, mask


MAX_FRAMES = 10_000  # about 5 GB if held in memory; the demo command streams them, but a run this long is a mistake


def generate_clip(num_frames: int = 120) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (BGR uint8, 480x360) and ground-truth boxes [x, y, w, h] of the tight box of the target patch."""
    frames, boxes = [], []
    for frame, box in iter_clip(num_frames):
        frames.append(frame)
        boxes.append(box)
    return frames, np.array(boxes, dtype=np.float64)


def iter_clip(num_frames: int = 120) -> Iterator[tuple[np.ndarray, list[float]]]:
    """The clip one frame at a time: ``(frame, [x, y, w, h])`` (memory does not grow with the length)."""
    if not isinstance(num_frames, int) or not 2 <= num_frames <= MAX_FRAMES:
        raise SiamcanError(f"the demo clip needs 2 to {MAX_FRAMES} frames, got {num_frames}")
    photo = source_photo()
    scene = _scene(photo)
    patch, mask = _target(photo)
    sh, sw = scene.shape[:2]
    for t in range(num_frames):
        u = t / (num_frames - 1)
        # camera pan across the scene
        cam_x = int(round((sw - FRAME_W) * (0.5 + 0.45 * math.sin(2 * math.pi * u))))
        cam_y = int(round((sh - FRAME_H) * (0.5 + 0.45 * math.sin(math.pi * u))))
        frame = scene[cam_y:cam_y + FRAME_H, cam_x:cam_x + FRAME_W].copy()
        # target: smooth scale change and a Lissajous path in frame coordinates
        s = 0.30 + 0.12 * math.sin(2 * math.pi * u * 1.5)
        tw, th = int(round(patch.shape[1] * s)), int(round(patch.shape[0] * s))
        cx = FRAME_W / 2 + 150 * math.sin(2 * math.pi * u)
        cy = FRAME_H / 2 + 80 * math.sin(4 * math.pi * u + 0.5)
        x0, y0 = int(round(cx - tw / 2)), int(round(cy - th / 2))
        p = cv2.resize(patch, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)
        m = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_AREA)[..., None]
        # clip to the frame
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + tw, FRAME_W), min(y0 + th, FRAME_H)
        region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
        pp = p[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        mm = m[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        frame[fy0:fy1, fx0:fx1] = np.clip(region * (1 - mm) + pp * mm, 0, 255).astype(np.uint8)
        yield frame, [float(fx0), float(fy0), float(fx1 - fx0), float(fy1 - fy0)]

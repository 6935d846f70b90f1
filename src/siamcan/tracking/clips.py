"""Frames for benchmarks and checks: a sequence's first frames and box, or a generated clip when no data is at hand
(``siamcan bench``, ``benchmarks/check_equal.py``, tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SiamcanError


def default_sequence() -> Path | None:
    """The first sequence of the dev set (``$SIAMCAN_SHARED_DATA`` or ``../shared/data``), or None without one."""
    from .nanotrack import shared_data_dir

    d = shared_data_dir() / "dev" / "otb-format"
    seqs = sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []
    return seqs[0] if seqs else None


def generated_clip(n: int, size=(480, 360), seed: int = 0) -> tuple[list[np.ndarray], list[float]]:
    """A textured square drifting over a noisy background; returns frames and the first box."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = (rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8)
    import cv2

    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    obj = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    obj = cv2.resize(obj, (60, 60), interpolation=cv2.INTER_NEAREST)
    frames = []
    for i in range(n):
        f = bg.copy()
        x = int(100 + 80 * np.sin(i / 15))
        y = int(120 + 50 * np.cos(i / 20))
        f[y:y + 60, x:x + 60] = obj
        frames.append(f)
    return frames, [100.0, 170.0, 60.0, 60.0]


def load_frames(sequence: str | None, n: int):
    from ..fileio import read_boxes
    from .sources import FrameSource

    seq = Path(sequence) if sequence else default_sequence()
    if seq is None:
        frames, box = generated_clip(n)
        return frames, box, "generated clip"
    source = FrameSource(seq)
    frames = []
    for i, f in enumerate(source):
        if i >= n:
            break
        if f is None:
            raise SiamcanError(f"frame {i + 1} of {seq} cannot be decoded")
        frames.append(f)
    gt = seq / "groundtruth_rect.txt"
    if gt.is_file():
        box = [float(v) for v in read_boxes(gt)[0]]
    else:  # no annotation: the central quarter of the first frame
        h, w = frames[0].shape[:2]
        box = [w * 3 / 8, h * 3 / 8, w / 4, h / 4]
    return frames, box, str(seq)

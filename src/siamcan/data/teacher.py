"""A stronger tracker as a teacher: NanoTrack's response maps as extra training targets (distillation).

The issue allows "pseudo-labels from a stronger tracker". NanoTrack (the OpenCV tracker, ONNX backbone + head, trained
on GOT-10k/LaSOT/COCO/...) sees the same template (127) and search (255) crops as SiamCAN, with the same context rule,
so its outputs on a training pair are soft targets for ours:

* ``t_prob`` (25,25): NanoTrack's foreground probability, bilinearly resampled from its 16x16 grid
  (stride 16, point ``i`` at ``(i - 8) * 16 + 127`` crop pixels, OpenCV's ``generateGrids``) to SiamCAN's 25x25 grid
  (stride 8, point ``k`` at ``(k - 12) * 8 + 127``), which falls on teacher coordinates ``2 + k / 2``.
* ``t_loc`` (4,25,25): NanoTrack's predicted box at each of our points, as (l, t, r, b) from that point. The box
  corners (x1, y1, x2, y2) = (grid - l, grid - t, grid + r, grid + b) are resampled, not the distances.
* ``t_mask`` (25,25): points inside the teacher's box (all four distances > 1 px), where ``t_loc`` is usable.

NanoTrack takes RGB 0-255 (OpenCV's tracker feeds ``blobFromImage(crop, swapRB=True)``); our crops are BGR 0-255.
The teacher runs through ``cv2.dnn`` one pair at a time (its graph does not take a batch): about 4.1 ms a pair on one
thread (``benchmarks/check_teacher.py``), small next to a training step. :class:`~siamcan.data.pairs.PairDataset`
calls it per pair, so with DataLoader workers the labelling runs in the workers, in parallel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import AugConfig
from ..errors import SiamcanError
from ..tracking.geometry import context_size, cosine_window, crop_points
from .augment import augmented_crop

TEACHER_SCORE, TEACHER_STRIDE = 16, 16  # its grid is crop_points(16, 16): (i - 8) * 16 + 127, as in OpenCV
WINDOW_INFLUENCE = 0.455  # OpenCV's TrackerNano default
PLAIN = AugConfig(shift=0, scale=0, blur=0, flip=0, color=0)  # crops as the tracker cuts them, no augmentation
STUDENT_SCORE = crop_points().shape[-1]


def _find(folder: Path, word: str) -> Path:
    hits = sorted(p for p in folder.glob("*.onnx") if word in p.name.lower())
    if len(hits) != 1:
        raise SiamcanError(f"train.teacher: expected one '*{word}*.onnx' file in {folder}, found {len(hits)}")
    return hits[0]


def _resample_coords() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Teacher-grid indices (i0, i0 + 1) and weight of i0 + 1 for each student index (same along x and y)."""
    student = crop_points()[0, 0]  # x of each column, search-crop pixels (the same along y)
    teacher = crop_points(TEACHER_SCORE, TEACHER_STRIDE)[0, 0]
    t = (student - teacher[0]) / TEACHER_STRIDE
    if t.min() < 0 or t.max() > TEACHER_SCORE - 1:
        raise SiamcanError("teacher grid does not cover the SiamCAN score map")
    i0 = np.minimum(np.floor(t).astype(int), TEACHER_SCORE - 2)
    return i0, i0 + 1, (t - i0).astype(np.float32)


class NanoTrackTeacher:
    """NanoTrack v2 (its backbone and head ONNX files in one folder) labelling SiamCAN training pairs."""

    def __init__(self, folder: str | Path):
        import cv2

        folder = Path(folder)
        if not folder.is_dir():
            raise SiamcanError(f"train.teacher: no such folder: {folder} (NanoTrack's backbone and head ONNX files)")
        self.backbone = cv2.dnn.readNet(str(_find(folder, "backbone")))
        self.head = cv2.dnn.readNet(str(_find(folder, "head")))
        self.gx, self.gy = crop_points(TEACHER_SCORE, TEACHER_STRIDE)  # (y, x) arrays of point x / point y
        self.i0, self.i1, self.w = _resample_coords()
        self.px, self.py = crop_points()
        self.window = cosine_window(TEACHER_SCORE).reshape(TEACHER_SCORE, TEACHER_SCORE).astype(np.float32)

    def _features(self, img: np.ndarray) -> np.ndarray:
        self.backbone.setInput(np.ascontiguousarray(img[None, ::-1], dtype=np.float32))  # BGR -> RGB
        return self.backbone.forward().copy()

    def _resample(self, m: np.ndarray) -> np.ndarray:
        """(..., 16, 16) -> (..., 25, 25), bilinear on the aligned grids."""
        i0, i1, w = self.i0, self.i1, self.w
        rows = m[..., i0, :] * (1 - w)[:, None] + m[..., i1, :] * w[:, None]
        return rows[..., i0] * (1 - w) + rows[..., i1] * w

    def _head(self, zf: np.ndarray, xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """NanoTrack's own outputs on one pair of backbone features: foreground probability (16,16) and l,t,r,b
        distances (4,16,16)."""
        self.head.setInput(zf, "input1")
        self.head.setInput(xf, "input2")
        cls, reg = self.head.forward(["output1", "output2"])
        if cls.shape[-2:] != (TEACHER_SCORE, TEACHER_SCORE):
            raise SiamcanError(f"train.teacher: the head gives a {cls.shape[-2]}x{cls.shape[-1]} map; only NanoTrack "
                               f"v2's {TEACHER_SCORE}x{TEACHER_SCORE} layout (stride 16) is supported")
        cls, reg = cls[0].astype(np.float64), reg[0].astype(np.float32)
        e = np.exp(cls - cls.max(0, keepdims=True))
        return (e[1] / e.sum(0)).astype(np.float32), reg

    def pair(self, template: np.ndarray, search: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pair, (3,127,127) and (3,255,255) BGR 0-255 -> (prob (25,25), ltrb (4,25,25), mask (25,25))."""
        prob, reg = self._head(self._features(template), self._features(search))
        corners = np.stack([self.gx - reg[0], self.gy - reg[1], self.gx + reg[2], self.gy + reg[3]])
        c = self._resample(corners)
        ltrb = np.stack([self.px - c[0], self.py - c[1], c[2] - self.px, c[3] - self.py]).astype(np.float32)
        mask = (ltrb > 1.0).all(0)
        return self._resample(prob).astype(np.float32), ltrb, mask

    def label(self, item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Add ``t_prob``, ``t_loc``, ``t_mask`` to one pair (``template``/``search`` (3,H,W) float BGR 0-255)."""
        prob, ltrb, mask = self.pair(item["template"].numpy(), item["search"].numpy())
        item["t_prob"], item["t_loc"], item["t_mask"] = (torch.from_numpy(a) for a in (prob, ltrb, mask))
        return item

    def _box_in(self, zf: np.ndarray, box: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """NanoTrack's box (x, y, w, h in ``dst`` pixels) for the template features ``zf`` (of the region ``box``),
        searched around ``box`` in ``dst``: one tracking step as OpenCV's tracker takes it (same crops and context
        rule, peak of the foreground map blended with a cosine window of influence 0.455), without scale penalty or
        smoothing."""
        x, _ = augmented_crop(dst, box, 255, PLAIN, np.random.default_rng(0))
        prob, reg = self._head(zf, self._features(x.transpose(2, 0, 1)))
        score = prob * (1 - WINDOW_INFLUENCE) + self.window * WINDOW_INFLUENCE
        j = np.unravel_index(int(score.argmax()), score.shape)
        gx, gy = float(self.gx[j]), float(self.gy[j])
        x1, y1, x2, y2 = gx - reg[0][j], gy - reg[1][j], gx + reg[2][j], gy + reg[3][j]
        # the plain crop maps image pixel X to (X - cx) * k + 127 (augmented_crop without scale/shift), and shows
        # the box from cx - w/2 to cx + w/2 while x, y, w, h has its centre at x + (w - 1)/2
        bx, by, bw, bh = (float(v) for v in box)
        cx, cy, k = bx + (bw - 1) / 2, by + (bh - 1) / 2, 127.0 / context_size(bw, bh)
        return np.array([(x1 - 127) / k + cx + 0.5, (y1 - 127) / k + cy + 0.5, (x2 - x1) / k, (y2 - y1) / k],
                        np.float32)

    def follow(self, src: np.ndarray, box: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Where region ``box`` (x, y, w, h) of image ``src`` is in image ``dst``, by NanoTrack: x, y, w, h there.

        NanoTrack's box is what it takes for the object around the region, not the region itself (on a random
        region it regresses the extent of whatever is there). So the region is moved and scaled as that box is
        between the two frames: NanoTrack's box in ``dst`` against its box in ``src`` itself. ``dst`` equal to
        ``src`` gives ``box`` back exactly. Used to pseudo-label regions nobody annotated (``train.pseudo_prob``).
        """
        z, _ = augmented_crop(src, box, 127, PLAIN, np.random.default_rng(0))
        zf = self._features(z.transpose(2, 0, 1))  # one template, searched for in both frames
        a, b = self._box_in(zf, box, src), self._box_in(zf, box, dst)
        if not (a[2] > 0 and a[3] > 0):
            return np.full(4, np.nan, np.float32)
        box = np.asarray(box, np.float32)
        move = (b[:2] + (b[2:] - 1) / 2) - (a[:2] + (a[2:] - 1) / 2)
        size = box[2:] * b[2:] / a[2:]
        centre = box[:2] + (box[2:] - 1) / 2 + move
        return np.concatenate([centre - (size - 1) / 2, size]).astype(np.float32)

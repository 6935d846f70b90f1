"""A stronger tracker as a teacher: NanoTrack's response maps as extra training targets (distillation).

NanoTrack (v2 or v3; its released backbone + head ONNX files in ONNX Runtime, :mod:`siamcan.tracking.nanotrack`;
trained on GOT-10k/LaSOT/COCO/...) sees the same template and search crops as the student, with the same context
rule, so its outputs on a training pair are soft targets:

* ``t_prob`` (S,S): NanoTrack's foreground probability, bilinearly resampled from its stride-16 grid to the
  student's score grid (:meth:`~siamcan.geometry.CropGeometry.resample_index`; the identity for siamcan-nano and
  NanoTrack v3, which share the 15x15 grid; siamcan-lite's 25x25 stride-8 points fall between v2's).
* ``t_loc`` (4,S,S): NanoTrack's predicted box at each student point, as (l, t, r, b) from that point. The box
  corners (x1, y1, x2, y2) = (grid - l, grid - t, grid + r, grid + b) are resampled, not the distances.
* ``t_mask`` (S,S): points inside the teacher's box (all four distances > 1 px), where ``t_loc`` is usable.

NanoTrack takes BGR 0-255 crops, as it was trained (pysot). :class:`~siamcan.data.pairs.PairDataset` calls the teacher
per pair, so with DataLoader workers the labelling runs in the workers, in parallel (one ONNX Runtime thread each).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import AugConfig
from ..errors import SiamcanError
from ..geometry import CropGeometry
from .augment import augmented_crop

PLAIN = AugConfig(shift=0, scale=0, blur=0, flip=0, color=0)  # crops as the tracker cuts them, no augmentation


def teacher_version(folder: Path) -> str:
    """'v3' or 'v2', from the NanoTrack files in ``folder``."""
    from ..tracking.nanotrack import VERSIONS

    found = [v for v, spec in VERSIONS.items() if (folder / spec.backbone).is_file() and (folder / spec.head).is_file()]
    if len(found) != 1:
        names = "; ".join(f"{v}: {spec.backbone} + {spec.head}" for v, spec in VERSIONS.items())
        raise SiamcanError(f"train.teacher: {folder} must hold one NanoTrack version's backbone and head ONNX files "
                           f"({names})")
    return found[0]


class NanoTrackTeacher:
    """NanoTrack (its backbone and head ONNX files in one folder) labelling training pairs for a student whose score
    map is ``student`` (crop sizes, stride, map size: the student config's geometry)."""

    def __init__(self, folder: str | Path, student: CropGeometry | None = None):
        from ..tracking.nanotrack import VERSIONS, NanoTrackEngine

        folder = Path(folder)
        if not folder.is_dir():
            raise SiamcanError(f"train.teacher: no such folder: {folder} (NanoTrack's backbone and head ONNX files)")
        self.version = teacher_version(folder)
        spec = VERSIONS[self.version].tracker
        self.student = student or CropGeometry()
        self.geometry = CropGeometry(self.student.exemplar_size, self.student.instance_size, spec.stride,
                                     spec.score_size, self.student.context_amount)
        self.window_influence = spec.window_influence
        self.engine = NanoTrackEngine(self.version, folder, threads=1)
        self.gx, self.gy = self.geometry.points()  # (S_t, S_t) maps of point x / point y
        self.i0, self.i1, self.w = self.student.resample_index(self.geometry)
        self.px, self.py = self.student.points()
        s = self.geometry.score_size
        self.window = self.geometry.window().reshape(s, s).astype(np.float32)

    def _features(self, img: np.ndarray) -> np.ndarray:
        return self.engine.features(img[None])

    def _resample(self, m: np.ndarray) -> np.ndarray:
        """(..., S_t, S_t) -> (..., S, S), bilinear on the aligned grids."""
        i0, i1, w = self.i0, self.i1, self.w
        rows = m[..., i0, :] * (1 - w)[:, None] + m[..., i1, :] * w[:, None]
        return rows[..., i0] * (1 - w) + rows[..., i1] * w

    def _head(self, zf: np.ndarray, xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """NanoTrack's own outputs on one pair of backbone features: foreground probability (S_t,S_t) and l,t,r,b
        distances (4,S_t,S_t)."""
        cls, reg = self.engine.head_maps(zf, xf)
        s = self.geometry.score_size
        if cls.shape[-2:] != (s, s):
            raise SiamcanError(f"train.teacher: the head gives a {cls.shape[-2]}x{cls.shape[-1]} map, NanoTrack "
                               f"{self.version} should give {s}x{s}")
        cls, reg = cls[0].astype(np.float64), reg[0].astype(np.float32)
        e = np.exp(cls - cls.max(0, keepdims=True))
        return (e[1] / e.sum(0)).astype(np.float32), reg

    def pair(self, template: np.ndarray, search: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pair, (3,E,E) and (3,I,I) BGR 0-255 -> (prob (S,S), ltrb (4,S,S), mask (S,S)) on the student's grid."""
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
        rule, peak of the foreground map blended with its cosine window), without scale penalty or smoothing."""
        g = self.geometry
        x, _ = augmented_crop(dst, box, g.instance_size, PLAIN, np.random.default_rng(0), geometry=g)
        prob, reg = self._head(zf, self._features(x.transpose(2, 0, 1)))
        score = prob * (1 - self.window_influence) + self.window * self.window_influence
        j = np.unravel_index(int(score.argmax()), score.shape)
        gx, gy = float(self.gx[j]), float(self.gy[j])
        x1, y1, x2, y2 = gx - reg[0][j], gy - reg[1][j], gx + reg[2][j], gy + reg[3][j]
        # the plain crop maps image pixel X to (X - cx) * k + I // 2 (augmented_crop without scale/shift), and
        # shows the box from cx - w/2 to cx + w/2 while x, y, w, h has its centre at x + (w - 1)/2
        bx, by, bw, bh = (float(v) for v in box)
        cx, cy, k = bx + (bw - 1) / 2, by + (bh - 1) / 2, g.exemplar_size / g.context_size(bw, bh)
        c = g.instance_size // 2
        return np.array([(x1 - c) / k + cx + 0.5, (y1 - c) / k + cy + 0.5, (x2 - x1) / k, (y2 - y1) / k],
                        np.float32)

    def follow(self, src: np.ndarray, box: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Where region ``box`` (x, y, w, h) of image ``src`` is in image ``dst``, by NanoTrack: x, y, w, h there.

        NanoTrack's box is what it takes for the object around the region, not the region itself (on a random
        region it regresses the extent of whatever is there). So the region is moved and scaled as that box is
        between the two frames: NanoTrack's box in ``dst`` against its box in ``src`` itself. ``dst`` equal to
        ``src`` gives ``box`` back exactly. Used to pseudo-label regions nobody annotated (``train.pseudo_prob``).
        """
        g = self.geometry
        z, _ = augmented_crop(src, box, g.exemplar_size, PLAIN, np.random.default_rng(0), geometry=g)
        zf = self._features(z.transpose(2, 0, 1))  # one template, searched for in both frames
        a, b = self._box_in(zf, box, src), self._box_in(zf, box, dst)
        if not (a[2] > 0 and a[3] > 0):
            return np.full(4, np.nan, np.float32)
        box = np.asarray(box, np.float32)
        move = (b[:2] + (b[2:] - 1) / 2) - (a[:2] + (a[2:] - 1) / 2)
        size = box[2:] * b[2:] / a[2:]
        centre = box[:2] + (box[2:] - 1) / 2 + move
        return np.concatenate([centre - (size - 1) / 2, size]).astype(np.float32)

"""Training pairs: a PyTorch Dataset mixing several raw datasets (SPEC §3).

Each epoch draws ``num_use`` tracks per dataset (-1: all, once), shuffles them, and tiles the list to
``pairs_per_epoch``. A pair is (template frame, search frame within +-``frame_range`` frames of it), or with
probability ``neg_prob`` a negative pair (search from a random object of a random dataset). Every random choice of
item ``i`` of epoch ``e`` comes from ``numpy.random.default_rng([seed, e, i])``: the data are a pure function of
(seed, epoch, index), whatever the worker count, the process (DDP rank) or a resume.

With ``train.teacher`` set, each pair also carries NanoTrack's maps on it (``t_prob``, ``t_loc``, ``t_mask``;
:mod:`siamcan.data.teacher`), the distillation targets. With ``train.pseudo_prob`` > 0 as well, that share of the
positive pairs is about a random region instead of the annotated object: the teacher follows it from the template
frame into the search frame (pseudo-labels), which adds targets of every kind to the ~100 annotated ones.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import AugConfig, DatasetConfig, TrainConfig
from ..decoders import imread
from ..errors import SiamcanError
from ..geometry import CropGeometry, box_iou
from .augment import augmented_crop
from .labels import make_targets
from ..datasets import Sequence
from .readers import read_dataset

log = logging.getLogger(__name__)

PSEUDO_TRIES = 4  # random regions tried per pseudo-labelled pair before it falls back to the annotated object


class PairDataset(Dataset):
    """Template/search pairs with labels, read from raw frames and cropped on the fly. ``geometry`` (the config's
    crop sizes and score grid, :meth:`CropGeometry.from_config`) sizes the crops and places the labels."""

    def __init__(self, cfg: TrainConfig, datasets: tuple[DatasetConfig, ...], num_pairs: int, seed: int,
                 augment: bool = True, fixed_epoch: int | None = None, geometry: CropGeometry | None = None):
        if not datasets:
            raise SiamcanError("no training datasets configured (train.datasets is empty)")
        self.cfg = cfg
        self.geometry = geometry or CropGeometry()
        self.points = self.geometry.points()
        self.dcfgs = tuple(datasets)
        self.tracks: list[list[Sequence]] = [read_dataset(d) for d in datasets]
        self.num_pairs = int(num_pairs)
        self.seed = int(seed)
        self.augment = augment
        self.fixed_epoch = fixed_epoch
        self.epoch = 0 if fixed_epoch is None else fixed_epoch
        self.pick = np.zeros((0, 2), np.int64)
        self.set_epoch(self.epoch)
        self._teacher = None  # NanoTrackTeacher, made on first use in each process (cv2.dnn nets do not pickle)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_teacher"] = None
        return state

    def _teacher_net(self):
        if self._teacher is None:
            from .teacher import NanoTrackTeacher
            self._teacher = NanoTrackTeacher(self.cfg.teacher, self.geometry)
        return self._teacher

    def _label(self, item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The teacher's targets (``train.teacher``) for one pair, or the pair unchanged."""
        if not self.cfg.teacher:
            return item
        return self._teacher_net().label(item)

    def _pseudo_track(self, track: Sequence, t_idx: int, s_idx: int, rng: np.random.Generator,
                      read: Callable[[str], np.ndarray] | None = None) -> Sequence | None:
        """A region nobody annotated, as a two-frame track: a random box in frame ``t_idx`` of ``track`` and where
        the teacher finds it in frame ``s_idx`` (``train.pseudo_prob``, :meth:`NanoTrackTeacher.follow`). None when
        the teacher's answer fails the forward-backward check (tracking the found box back must land on the random
        box with IoU >= ``train.pseudo_min_iou``) or the box changes size by more than 1.5x between the two
        frames. ``read`` decodes a frame (default :meth:`_read`; :meth:`_make` passes one that decodes each frame
        once per pair)."""
        cfg = self.cfg
        if track.crop511:
            return None
        read = read or self._read
        src = read(track.frames[t_idx])
        ih, iw = src.shape[:2]
        side = max(12.0, float(np.exp(rng.uniform(np.log(0.06), np.log(0.4)))) * min(ih, iw))
        aspect = float(np.exp(rng.uniform(-np.log(2.0), np.log(2.0))))
        w, h = min(side * np.sqrt(aspect), iw - 1.0), min(side / np.sqrt(aspect), ih - 1.0)
        box = np.array([rng.uniform(0, iw - w), rng.uniform(0, ih - h), w, h], np.float32)
        found = box
        if s_idx != t_idx:
            dst = read(track.frames[s_idx])
            teacher = self._teacher_net()
            found = teacher.follow(src, box, dst)
            if not (np.isfinite(found).all() and found[2] > 2 and found[3] > 2):
                return None
            if max(found[2] * found[3] / (w * h), w * h / (found[2] * found[3])) > 1.5 ** 2:
                return None
            if box_iou(teacher.follow(dst, found, src), box)[0] < cfg.pseudo_min_iou:
                return None
        return Sequence(f"{track.name}/pseudo", [track.frames[t_idx], track.frames[s_idx]], np.stack([box, found]))

    def summary(self) -> str:
        return ", ".join(f"{d.name}: {len(t)} tracks" for d, t in zip(self.dcfgs, self.tracks))

    # ------------------------------------------------------------------------------ epoch pick list
    def set_epoch(self, epoch: int) -> None:
        """Build the (dataset, track) list of an epoch (deterministic in seed and epoch)."""
        if self.fixed_epoch is not None:
            epoch = self.fixed_epoch
        self.epoch = int(epoch)
        rng = np.random.default_rng([self.seed, self.epoch, 1 << 20])
        parts = []
        for d, (dcfg, tracks) in enumerate(zip(self.dcfgs, self.tracks)):
            n = len(tracks)
            use = n if dcfg.num_use < 0 else dcfg.num_use
            reps = -(-use // n) if use > 0 else 0
            idx = np.concatenate([rng.permutation(n) for _ in range(reps)])[:use] if reps else np.zeros(0, np.int64)
            parts.append(np.stack([np.full(len(idx), d), idx], 1))
        base = np.concatenate(parts) if parts else np.zeros((0, 2), np.int64)
        if len(base) == 0:
            raise SiamcanError("the configured datasets give no tracks to sample (num_use 0?)")
        chunks, total = [], 0
        while total < self.num_pairs:
            chunks.append(base[rng.permutation(len(base))])
            total += len(base)
        self.pick = np.concatenate(chunks)[: self.num_pairs].astype(np.int64)

    def __len__(self) -> int:
        return self.num_pairs

    # ------------------------------------------------------------------------------------- sampling
    def _frame_pair(self, track: Sequence, frame_range: int, rng: np.random.Generator) -> tuple[int, int]:
        valid = track.valid_index()
        t = int(valid[rng.integers(len(valid))])
        near = valid[(valid >= t - frame_range) & (valid <= t + frame_range)]
        return t, int(near[rng.integers(len(near))])

    def _random_object(self, rng: np.random.Generator, dataset: int | None = None,
                       avoid: Sequence | None = None) -> tuple[Sequence, int]:
        """A random annotated object: of a random dataset, or of ``dataset`` (another track than ``avoid`` when
        there is one: a same-category distractor, e.g. another pedestrian of MOT or vehicle of CATS)."""
        d = int(rng.integers(len(self.tracks))) if dataset is None else dataset
        pool = self.tracks[d]
        track = pool[int(rng.integers(len(pool)))]
        if avoid is not None and len(pool) > 1:
            while track is avoid:
                track = pool[int(rng.integers(len(pool)))]
        valid = track.valid_index()
        return track, int(valid[rng.integers(len(valid))])

    @staticmethod
    def _read(path: str) -> np.ndarray:
        img = imread(path)
        if img is None:
            raise OSError(f"cannot read image {path}")
        return img

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        for attempt in range(10):
            if attempt == 0:
                d, ti = (int(v) for v in self.pick[index % len(self.pick)])
            else:
                d = int(rng.integers(len(self.tracks)))
                ti = int(rng.integers(len(self.tracks[d])))
            try:
                item = self._make(self.tracks[d][ti], self.dcfgs[d].frame_range, rng, d)
            except OSError as e:
                log.warning("skipping a pair: %s", e)
                continue
            return self._label(item)
        raise SiamcanError(f"10 unreadable images in a row while sampling pair {index}: check the dataset files")

    def _make(self, track: Sequence, frame_range: int, rng: np.random.Generator, dataset: int
              ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        neg = bool(cfg.neg_prob > rng.random())
        gray = bool(cfg.gray_prob > rng.random())
        t_idx, s_idx = self._frame_pair(track, frame_range, rng)
        images: dict[str, np.ndarray] = {}

        def read(path: str) -> np.ndarray:  # each frame decoded once per pair (pseudo-labels read them first)
            if path not in images:
                images[path] = self._read(path)
            return images[path]

        if not neg and cfg.pseudo_prob > 0 and bool(cfg.pseudo_prob > rng.random()):  # no draw when it is off
            for _ in range(PSEUDO_TRIES):
                pseudo = self._pseudo_track(track, t_idx, s_idx, rng, read)
                if pseudo is not None:
                    track, t_idx, s_idx = pseudo, 0, 1
                    break
        s_track = track
        if neg:
            same = cfg.neg_same_prob > 0 and bool(cfg.neg_same_prob > rng.random())
            s_track, s_idx = self._random_object(rng, dataset if same else None, track if same else None)
        taug = cfg.template_aug if self.augment else AugConfig(color=0.0)
        saug = cfg.search_aug if self.augment else AugConfig(color=0.0)
        g = self.geometry
        z, _ = augmented_crop(read(track.frames[t_idx]), track.boxes[t_idx], g.exemplar_size, taug, rng, gray,
                              track.crop511, g)
        x, box = augmented_crop(read(s_track.frames[s_idx]), s_track.boxes[s_idx], g.instance_size, saug, rng,
                                gray, s_track.crop511, g)
        tg = make_targets(box, cfg.label, neg, rng, cfg.pos_num, cfg.neg_num, cfg.neg_pair_num, self.points)
        return {
            "template": torch.from_numpy(np.ascontiguousarray(z.transpose(2, 0, 1))),
            "search": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
            "label": torch.from_numpy(tg.label),
            "loc": torch.from_numpy(tg.loc),
            "cen": torch.from_numpy(tg.cen),
            "bbox": torch.from_numpy(box),
            "neg": torch.tensor(neg),
        }


def worker_init(_: int) -> None:
    """DataLoader worker set-up: one thread each (the main process does the math)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def pair_loader(ds: PairDataset, workers: int, **kwargs) -> DataLoader:
    """A DataLoader over ``ds`` whose forked workers cannot hang in OpenCV.

    A process forked after OpenCV's thread pool ran holds that pool's locks in the state of the fork, and its first
    ``cv2.setNumThreads`` (``worker_init``) then waits forever. With OpenCV 5 every training run with a teacher and
    ``num_workers`` > 0 hung before its first batch (the trainer checks the teacher's nets in the main process),
    and so would any run started after the caller used OpenCV. The main process needs no OpenCV threads while it
    trains, so its pool is shrunk to one thread (no pool) before the workers fork.
    """
    if workers > 0:
        cv2.setNumThreads(1)
    return DataLoader(ds, num_workers=workers, worker_init_fn=worker_init if workers else None, **kwargs)

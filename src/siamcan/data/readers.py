"""Training datasets: each configured dataset (``train.datasets``) read through the one registry of
:mod:`siamcan.datasets`, the readers evaluation uses too.

A track is one :class:`~siamcan.datasets.Sequence`: the image paths an object appears in and its box in each,
``x, y, w, h`` (top-left, pixels of the stored image); ``valid`` marks the frames a pair may use (annotated, not
absent / occluded / out of view, no degenerate box). Detection datasets (COCO, DET) give one single-frame track per
object. Formats (``DatasetConfig.format``): any name of :data:`siamcan.datasets.FORMATS` (``otb`` for custom data,
``got10k``, ``lasot``, ``vid``, ``coco``, ``det``, ``ytb`` / ``pysot_json``, ...). Layouts: ``docs/training.md``.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import DatasetConfig
from ..datasets import Sequence
from ..datasets import read_dataset as read_format
from ..errors import SiamcanError

Track = Sequence  # the record training samples from, under its former name


def resolve_root(root: str) -> Path:
    """A dataset root; relative paths are relative to the current directory."""
    if not root:
        raise SiamcanError("dataset root is empty")
    p = Path(os.path.expanduser(root))
    return p if p.is_absolute() else Path.cwd() / p


def read_dataset(cfg: DatasetConfig) -> list[Sequence]:
    """The tracks of one configured dataset that have a frame to sample (``cfg.anno``, relative to the root: the
    format's sequence list or annotation file). Missing / empty / malformed datasets raise SiamcanError."""
    root = resolve_root(cfg.root)
    anno = None
    if cfg.anno:
        anno = Path(os.path.expanduser(cfg.anno))
        anno = anno if anno.is_absolute() else root / anno
    label = f"dataset '{cfg.name}'"
    ds = read_format(cfg.format, root, anno=anno, box_space=cfg.box_space, label=label)
    tracks = [s for s in ds.sequences if s.valid.any()]
    if not tracks:
        raise SiamcanError(f"{label}: no usable {cfg.format} sequences found under {root} (every frame is absent)")
    return tracks

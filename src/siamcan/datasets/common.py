"""What every reader shares: its options, the annotation / flag / sequence-list files, the count rule, the record."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from ..fileio import read_boxes, read_rows, read_text
from .record import Sequence


@dataclass(frozen=True)
class ReadOptions:
    """How to read one dataset (the same for training and evaluation, apart from ``split``).

    ``anno``: the format's extra file, as a usable path: a sequence list (one name per line) for the folder layouts,
    the annotation file for ``coco``, ``ytb`` / ``pysot_json`` and ``json``. ``split``: ``"test"`` reads a
    benchmark's test split where the layout names one (LaSOT ``testing_set.txt``); None reads every sequence.
    ``box_space``: pysot crop layout only, ``"frame"`` (boxes in original-frame pixels) or ``"crop"`` (in 511-crop
    pixels)."""

    anno: Path | None = None
    split: str | None = None
    box_space: str = "frame"


def read_annotation(path: Path) -> np.ndarray:
    """Box / polygon file -> float array (N, 4 or 8), NaN rows where unannotated (:func:`fileio.read_boxes`)."""
    return read_boxes(path, (4, 8), "annotation file")


def read_flags(path: Path, n: int, name: str) -> np.ndarray:
    """Per-frame numbers, one per line or comma separated on one line (LaSOT, GOT-10k label files): exactly one per
    frame of the ``n``-frame sequence ``name``."""
    flags = np.array([v for row in read_rows(path, "flag file", allow_empty=True) for v in row], dtype=float)
    if len(flags) != n:
        raise SiamcanError(f"sequence {name}: {path} has {len(flags)} flags for {n} frames; they must match")
    return flags


def read_tag_files(folder: Path, n: int) -> dict[str, np.ndarray]:
    """VOT per-frame tag files ``<tag>.tag`` / ``<tag>.label`` (one 0/1 per line; short files are padded: VOT's
    files end at the last frame carrying the tag)."""
    tags = {}
    for f in sorted(folder.iterdir()):
        if f.suffix in (".tag", ".label") and f.is_file():
            flags = np.array([v for row in read_rows(f, "tag file", allow_empty=True) for v in row]) > 0
            flags = flags[:n]
            tags[f.stem] = np.concatenate([flags, np.zeros(n - len(flags), bool)])
    return tags


def check_counts(name: str, gt: np.ndarray, frames: list, gt_path: Path) -> None:
    """The one rule for a frame / box count mismatch, in training and evaluation alike: a one-line error naming
    the file and both counts."""
    if len(gt) != len(frames):
        raise SiamcanError(f"sequence {name}: {gt_path} has {len(gt)} annotation lines but "
                           f"{len(frames)} images were found; they must match")


def sequence_list(opts: ReadOptions) -> set[str] | None:
    """The sequence names of ``opts.anno`` (a text file, one name per line), or None (every sequence)."""
    if opts.anno is None:
        return None
    if not opts.anno.is_file():
        raise SiamcanError(f"sequence list {opts.anno} not found")
    return set(read_text(opts.anno, "sequence list").split())


def make_sequence(name: str, frames: list, regions: np.ndarray, required: bool = True, **kw) -> Sequence | None:
    """The record of one object, leading frames without a usable box dropped (the first box is the init box).
    No usable box at all: an error naming the sequence when ``required`` (a benchmark or training sequence), else
    None (a detection dataset's degenerate object, skipped)."""
    seq = Sequence.from_regions(name, [str(f) for f in frames], regions, **kw)
    ok = seq.annotated()
    if not ok.any():
        if required:
            raise SiamcanError(f"sequence {name}: no valid ground-truth box in any frame")
        return None
    start = int(np.argmax(ok))
    return seq.cut(start) if start else seq

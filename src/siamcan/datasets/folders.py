"""Single-object folder layouts: OTB (and custom data), UAV123, LaSOT, GOT-10k, VOT.

One image folder and one box file per sequence; images are listed by :func:`fileio.image_files` (natural order),
so image ``i`` always meets annotation line ``i``, and a file with another number of lines than images is an error
(:func:`~.common.check_counts`). Images are never decoded while reading.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from ..fileio import check_name, image_files, natural_key, read_text
from .common import ReadOptions, check_counts, make_sequence, read_annotation, read_flags, read_tag_files, \
    sequence_list
from .record import Dataset

# OTB2015 sequences whose evaluated frames are a sub-range of the image folder (first, last image; 1-based).
OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "David": (300, 770), "Tiger1": (6, 354), "BlurCar1": (247, 988), "BlurCar3": (3, 359),
    "BlurCar4": (18, 397), "Football1": (1, 74), "Freeman3": (1, 460), "Freeman4": (1, 283), "Diving": (1, 215),
}


def _otb_annotations(d: Path) -> list[tuple[str, Path]]:
    """(name suffix, box file) of an OTB sequence folder: OTB2015's shared folders with ``groundtruth_rect.1.txt``
    / ``.2.txt`` give ``-1`` / ``-2``; else ``groundtruth_rect.txt`` or ``groundtruth.txt``; [] if none."""
    split = sorted(d.glob("groundtruth_rect.[0-9].txt"))
    if split:
        return [(f"-{f.name.split('.')[1]}", f) for f in split]
    for n in ("groundtruth_rect.txt", "groundtruth.txt"):
        if (d / n).is_file():
            return [("", d / n)]
    return []


def read_otb(root: Path, opts: ReadOptions) -> Dataset:
    """OTB layout, at any depth below ``root``: ``<seq>/img/*.jpg`` (or the images in ``<seq>/`` itself) +
    ``groundtruth_rect.txt`` / ``groundtruth.txt``. A sequence is named by its folder's path below ``root``
    (``Basketball``, ``group/seqC``); OTB2015's known sub-ranges (:data:`OTB_FRAME_RANGES`) are applied."""
    keep = sequence_list(opts)
    seqs = []
    seen: set[str] = set()
    for dirpath, dirnames, _ in os.walk(root, followlinks=True):
        d = Path(dirpath)
        real = os.path.realpath(d)
        if real in seen:  # a symlink loop, or a folder linked twice
            dirnames[:] = []
            continue
        seen.add(real)
        named = _otb_annotations(d)
        if not named:
            dirnames.sort()
            continue
        dirnames[:] = []
        rel = d.relative_to(root).as_posix()
        base = root.name if rel == "." else rel
        if keep is not None and d.name not in keep and base not in keep:
            continue
        frames = image_files(d / "img" if (d / "img").is_dir() else d)
        for suffix, gt_path in named:
            name = base + suffix
            gt = read_annotation(gt_path)
            seq_frames = frames
            if d.name in OTB_FRAME_RANGES and len(frames) >= OTB_FRAME_RANGES[d.name][1]:
                first, last = OTB_FRAME_RANGES[d.name]
                seq_frames = frames[first - 1:last]
                if len(gt) == last and first > 1:  # annotation starts at image 1 (Tiger1): drop leading rows
                    gt = gt[first - 1:]
            check_counts(name, gt, seq_frames, gt_path)
            seqs.append(make_sequence(name, seq_frames, gt))
    return Dataset(root.name, seqs)


def read_uav123(root: Path, opts: ReadOptions) -> Dataset:
    """UAV123 layout: ``data_seq/<set>/<video>/*.jpg`` and ``anno/<set>/<seq>.txt`` (set = UAV123, UAV123_10fps,
    UAV20L). A sub-sequence ``<video>_<k>`` must have as many annotation lines as images unless its official frame
    range is known; otherwise use pysot's UAV123.json with ``--format json``."""
    anno_dirs = [d for d in (root / "anno").glob("*") if d.is_dir()] if (root / "anno").is_dir() else []
    if not anno_dirs:
        raise SiamcanError(f"no anno/<set>/ folder found in {root} (UAV123 layout: anno/UAV123/<seq>.txt)")
    keep = sequence_list(opts)
    seqs = []
    for anno_dir in sorted(anno_dirs):
        data_dir = root / "data_seq" / anno_dir.name
        for gt_path in sorted(anno_dir.glob("*.txt"), key=lambda p: natural_key(p.name)):
            name = gt_path.stem
            if keep is not None and name not in keep:
                continue
            video = data_dir / name
            if not video.is_dir():
                video = data_dir / re.sub(r"_\d+$", "", name)
            gt = read_annotation(gt_path)
            frames = image_files(video)
            if len(gt) != len(frames):
                raise SiamcanError(f"sequence {name}: {gt_path} has {len(gt)} annotation lines but {video} holds "
                                   f"{len(frames)} images and the sub-sequence frame range is unknown; "
                                   "use --format json with pysot's UAV123.json")
            seqs.append(make_sequence(name, frames, gt))
    return Dataset(root.name, seqs)


def read_lasot(root: Path, opts: ReadOptions) -> Dataset:
    """LaSOT layout: ``<class>/<class-N>/img/*.jpg`` + ``groundtruth.txt``, ``full_occlusion.txt``,
    ``out_of_view.txt`` (frames with either flag are absent). The sequence list ``opts.anno``, or for the test split
    ``testing_set.txt``, selects sequences."""
    wanted = sequence_list(opts)
    if wanted is None and opts.split == "test" and (root / "testing_set.txt").is_file():
        wanted = set(read_text(root / "testing_set.txt", "sequence list").split())
    seqs = []
    for gt_path in sorted(root.glob("*/*/groundtruth.txt"), key=lambda p: natural_key(p.parent.name)):
        d = gt_path.parent
        if wanted is not None and d.name not in wanted:
            continue
        gt = read_annotation(gt_path)
        frames = image_files(d / "img")
        check_counts(d.name, gt, frames, gt_path)
        absent = np.zeros(len(gt), bool)
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            if (d / flag_file).is_file():
                absent |= read_flags(d / flag_file, len(gt), d.name) > 0
        seqs.append(make_sequence(d.name, frames, gt, absent=absent, attributes=[d.parent.name]))
    return Dataset(root.name, seqs, exclude_absent=True)


def _listed_names(root: Path) -> list[str] | None:
    """The names of ``root/list.txt`` (GOT-10k, VOT), checked to be plain names, or None without one."""
    if not (root / "list.txt").is_file():
        return None
    return [check_name(n, f"{root / 'list.txt'}: sequence name")
            for n in read_text(root / "list.txt", "sequence list").split()]


def _listed_annotations(root: Path, names: list[str], opts: ReadOptions):
    """``(name, folder, groundtruth path, boxes)`` of each listed sequence ``<root>/<name>/groundtruth.txt`` that
    ``opts`` keeps (GOT-10k and VOT layouts)."""
    keep = sequence_list(opts)
    for name in names:
        if keep is not None and name not in keep:
            continue
        d = root / name
        gt_path = d / "groundtruth.txt"
        yield name, d, gt_path, read_annotation(gt_path)


def read_got10k(root: Path, opts: ReadOptions) -> Dataset:
    """GOT-10k layout (train / val / test): ``<seq>/*.jpg`` + ``groundtruth.txt`` (test: first frame only,
    runnable but not scorable) + optional ``absence.label`` (1 = absent) and ``cover.label`` (0 = fully hidden):
    such frames are absent. ``list.txt`` gives the order when present."""
    names = _listed_names(root)
    if names is None:
        names = sorted(p.name for p in root.iterdir() if (p / "groundtruth.txt").is_file())
    seqs = []
    for name, d, gt_path, gt in _listed_annotations(root, names, opts):
        frames = image_files(d)
        scorable = True
        if len(gt) == 1 and len(frames) > 1:  # test split: only the first box is public
            gt = np.vstack([gt, np.full((len(frames) - 1, gt.shape[1]), np.nan)])
            scorable = False
        check_counts(name, gt, frames, gt_path)
        absent = None
        if (d / "absence.label").is_file():
            absent = read_flags(d / "absence.label", len(gt), name) > 0
        if (d / "cover.label").is_file():
            hidden = read_flags(d / "cover.label", len(gt), name) == 0
            absent = hidden if absent is None else absent | hidden
        seqs.append(make_sequence(name, frames, gt, absent=absent, scorable=scorable))
    return Dataset(root.name, seqs, exclude_absent=True)


def read_vot(root: Path, opts: ReadOptions) -> Dataset:
    """VOT2016-2019 layout: ``list.txt``, ``<seq>/color/*.jpg`` (or ``<seq>/*.jpg``), ``groundtruth.txt`` with
    8-value polygons or 4-value rectangles, per-frame ``*.tag`` / ``*.label`` files."""
    names = _listed_names(root)
    if names is None:
        raise SiamcanError(f"{root / 'list.txt'} not found (VOT layout: list.txt + <seq>/groundtruth.txt)")
    seqs = []
    for name, d, gt_path, gt in _listed_annotations(root, names, opts):
        frames = image_files(d / "color" if (d / "color").is_dir() else d)
        check_counts(name, gt, frames, gt_path)
        seqs.append(make_sequence(name, frames, gt, tags=read_tag_files(d, len(gt))))
    return Dataset(root.name, seqs, supervised=True)


"""Benchmark dataset readers: OTB / UAV123 / LaSOT / GOT-10k / VOT folder layouts and pysot-toolkit JSON files.

Every reader returns a :class:`Dataset` of :class:`Sequence` objects. Images are never decoded while reading
(``Sequence.frame(i)`` loads one on demand), so scoring result files needs only the annotations.

Frame alignment: ``Sequence.gt[i]`` belongs to ``Sequence.frames[i]`` and to line ``i`` of a result file.
Leading unannotated frames (NaN rows before the first box) are not part of the sequence (OTB's ``startFrame``),
so frame 0 always carries the initial box.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from ..fileio import check_name, image_files, inside, natural_key, read_text
from .geometry import polygon_to_init_rect

FORMATS = ("otb", "uav123", "lasot", "got10k", "vot", "json")

# OTB2015 sequences whose evaluated frames are a sub-range of the image folder (first, last image; 1-based).
OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "David": (300, 770), "Tiger1": (6, 354), "BlurCar1": (247, 988), "BlurCar3": (3, 359),
    "BlurCar4": (18, 397), "Football1": (1, 74), "Freeman3": (1, 460), "Freeman4": (1, 283), "Diving": (1, 215),
}
VOT_TAGS = ("camera_motion", "illum_change", "motion_change", "size_change", "occlusion")


@dataclass
class Sequence:
    """One annotated video.

    ``gt`` is (N, 4) ``x, y, w, h`` or (N, 8) polygons, NaN rows where the target is unannotated;
    ``absent`` (N,) marks frames to leave out of the one-pass curves (LaSOT full occlusion / out of view,
    GOT-10k ``absence.label``); ``tags`` are per-frame 0/1 arrays (VOT), ``attributes`` sequence-level labels
    (OTB/UAV ``attr``). ``width``/``height`` are read from the first image when not given.
    """

    name: str
    frames: list[Path]
    gt: np.ndarray
    attributes: list[str] = field(default_factory=list)
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    absent: np.ndarray | None = None
    width: int | None = None
    height: int | None = None
    scorable: bool = True
    aliases: tuple[str, ...] = ()  # other result-file names (a pysot JSON key such as ``jogging_1``)

    def __len__(self) -> int:
        return len(self.gt)

    @property
    def is_polygon(self) -> bool:
        return self.gt.shape[1] != 4

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as BGR uint8 (``cv2.imread``)."""
        import cv2

        img = cv2.imread(str(self.frames[i]), cv2.IMREAD_COLOR)
        if img is None:
            raise SiamcanError(f"sequence {self.name}: cannot read frame {i + 1}: {self.frames[i]}")
        return img

    def size(self) -> tuple[int, int]:
        """Image ``(width, height)``, from the annotation or the first image."""
        if self.width is None or self.height is None:
            h, w = self.frame(0).shape[:2]
            self.width, self.height = int(w), int(h)
        return int(self.width), int(self.height)

    def init_box(self, i: int = 0) -> list[float]:
        """Axis-aligned ``x, y, w, h`` init box of frame ``i`` (polygons: SPEC §5 conversion)."""
        return polygon_to_init_rect(self.gt[i])


@dataclass
class Dataset:
    """A named list of sequences; ``supervised`` selects the VOT protocol, ``exclude_absent`` LaSOT scoring."""

    name: str
    sequences: list[Sequence]
    supervised: bool = False
    exclude_absent: bool = False

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self):
        return iter(self.sequences)

    def select(self, names: list[str] | None) -> "Dataset":
        """The dataset restricted to ``names`` (unknown names are an error)."""
        if not names:
            return self
        by_name = {s.name: s for s in self.sequences}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise SiamcanError(f"unknown sequence(s) in {self.name}: {', '.join(missing)} "
                               f"(have e.g. {', '.join(list(by_name)[:5])})")
        return Dataset(self.name, [by_name[n] for n in names], self.supervised, self.exclude_absent)


def combine(datasets: list[Dataset]) -> Dataset:
    """Several datasets of one protocol as one (e.g. tuning on sequences from several folders)."""
    if len(datasets) == 1:
        return datasets[0]
    if len({(d.supervised, d.exclude_absent) for d in datasets}) != 1:
        raise SiamcanError("cannot combine datasets scored with different protocols (VOT / one-pass / LaSOT)")
    seen: dict[str, str] = {}
    for d in datasets:
        for s in d.sequences:
            if s.name in seen:
                raise SiamcanError(f"sequence name '{s.name}' is in both {seen[s.name]} and {d.name}")
            seen[s.name] = d.name
    return Dataset("+".join(d.name for d in datasets), [s for d in datasets for s in d.sequences],
                   datasets[0].supervised, datasets[0].exclude_absent)


# ----------------------------------------------------------------------------- helpers
def read_annotation(path: Path) -> np.ndarray:
    """Box / polygon file -> float array (N, 4 or 8); 'nan' / 'NaN' allowed; comma, tab or space separated."""
    if not path.is_file():
        raise SiamcanError(f"annotation file not found: {path}")
    rows: list[list[float]] = []
    for i, line in enumerate(read_text(path, "annotation file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append([float(t) for t in re.split(r"[,\s]+", line.strip())])
        except ValueError:
            raise SiamcanError(f"{path}:{i}: cannot parse '{line.strip()[:60]}' as numbers") from None
    if not rows:
        raise SiamcanError(f"annotation file is empty: {path}")
    widths = {len(r) for r in rows}
    if len(widths) != 1 or next(iter(widths)) not in (4, 8):
        bad = next(i for i, r in enumerate(rows, 1) if len(r) not in (4, 8) or len(r) != len(rows[0]))
        raise SiamcanError(f"{path}:{bad}: expected 4 (x,y,w,h) or 8 (polygon) values on every line, "
                           f"got {len(rows[bad - 1])}")
    return np.array(rows, dtype=float)


def _read_flags(path: Path) -> np.ndarray:
    """0/1 flags, one per line or comma separated on one line (LaSOT) -> bool array."""
    text = read_text(path, "flag file").replace(",", " ").split()
    try:
        return np.array([float(t) for t in text], dtype=float) > 0
    except ValueError:
        raise SiamcanError(f"{path}: expected 0/1 flags") from None


def _check_counts(name: str, gt: np.ndarray, frames: list[Path], gt_path: Path) -> None:
    if len(gt) != len(frames):
        raise SiamcanError(f"sequence {name}: {gt_path} has {len(gt)} annotation lines but "
                           f"{len(frames)} images were found; they must match")


def _valid_rows(gt: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(gt).any(axis=1)
    if gt.shape[1] == 4:
        ok &= (gt[:, 2] > 0) & (gt[:, 3] > 0)
    return ok


def _make_sequence(name: str, frames: list[Path], gt: np.ndarray, **kw) -> Sequence:
    """Build a sequence, dropping leading unannotated frames (the first valid box is the init box)."""
    valid = _valid_rows(gt)
    if not valid.any():
        raise SiamcanError(f"sequence {name}: no valid ground-truth box in any frame")
    start = int(np.argmax(valid))
    if start:
        frames = frames[start:]
        gt = gt[start:]
        if kw.get("absent") is not None:
            kw["absent"] = kw["absent"][start:]
        kw["tags"] = {k: v[start:] for k, v in kw.get("tags", {}).items()}
    return Sequence(name=name, frames=frames, gt=gt, **kw)


def _read_tag_files(folder: Path, n: int) -> dict[str, np.ndarray]:
    """VOT per-frame tag files ``<tag>.tag`` / ``<tag>.label`` (one 0/1 per line; short files are padded)."""
    tags = {}
    for f in sorted(folder.iterdir()):
        if f.suffix in (".tag", ".label") and f.is_file():
            flags = _read_flags(f)[:n]
            tags[f.stem] = np.concatenate([flags, np.zeros(n - len(flags), bool)])
    return tags


# ----------------------------------------------------------------------------- folder layouts
def read_otb(root: Path) -> Dataset:
    """OTB layout: ``<seq>/img/*.jpg`` + ``groundtruth_rect.txt`` (or ``groundtruth.txt``); OTB2015's shared
    folders with ``groundtruth_rect.1.txt`` / ``.2.txt`` become ``<seq>-1`` / ``<seq>-2``."""
    seqs = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        img = d / "img" if (d / "img").is_dir() else d
        gt_files = sorted(d.glob("groundtruth_rect.[0-9].txt"))
        if gt_files:
            named = [(f"{d.name}-{f.name.split('.')[1]}", f) for f in gt_files]
        elif (d / "groundtruth_rect.txt").is_file():
            named = [(d.name, d / "groundtruth_rect.txt")]
        elif (d / "groundtruth.txt").is_file():
            named = [(d.name, d / "groundtruth.txt")]
        else:
            continue
        frames = image_files(img)
        for name, gt_path in named:
            gt = read_annotation(gt_path)
            seq_frames = frames
            if d.name in OTB_FRAME_RANGES and len(frames) >= OTB_FRAME_RANGES[d.name][1]:
                first, last = OTB_FRAME_RANGES[d.name]
                seq_frames = frames[first - 1:last]
                if len(gt) == last and first > 1:  # annotation starts at image 1 (Tiger1): drop leading rows
                    gt = gt[first - 1:]
            _check_counts(name, gt, seq_frames, gt_path)
            seqs.append(_make_sequence(name, seq_frames, gt))
    if not seqs:
        raise SiamcanError(f"no OTB-layout sequence (<seq>/img + groundtruth_rect.txt) found in {root}")
    return Dataset(root.name, seqs)


def read_uav123(root: Path) -> Dataset:
    """UAV123 layout: ``data_seq/<set>/<video>/*.jpg`` and ``anno/<set>/<seq>.txt`` (set = UAV123, UAV123_10fps,
    UAV20L). A sub-sequence ``<video>_<k>`` must have as many annotation lines as images unless its official frame
    range is known; otherwise use pysot's UAV123.json with ``--format json``."""
    anno_dirs = [d for d in (root / "anno").glob("*") if d.is_dir()] if (root / "anno").is_dir() else []
    if not anno_dirs:
        raise SiamcanError(f"no anno/<set>/ folder found in {root} (UAV123 layout: anno/UAV123/<seq>.txt)")
    seqs = []
    for anno_dir in sorted(anno_dirs):
        data_dir = root / "data_seq" / anno_dir.name
        for gt_path in sorted(anno_dir.glob("*.txt"), key=lambda p: natural_key(p.name)):
            name = gt_path.stem
            video = data_dir / name
            if not video.is_dir():
                video = data_dir / re.sub(r"_\d+$", "", name)
            gt = read_annotation(gt_path)
            frames = image_files(video)
            if len(gt) != len(frames):
                raise SiamcanError(f"sequence {name}: {gt_path} has {len(gt)} annotation lines but {video} holds "
                                   f"{len(frames)} images and the sub-sequence frame range is unknown; "
                                   "use --format json with pysot's UAV123.json")
            seqs.append(_make_sequence(name, frames, gt))
    return Dataset(root.name, seqs)


def read_lasot(root: Path) -> Dataset:
    """LaSOT layout: ``<class>/<class-N>/img/*.jpg`` + ``groundtruth.txt``, ``full_occlusion.txt``,
    ``out_of_view.txt`` (frames with either flag are absent); ``testing_set.txt`` selects the test split."""
    wanted: set[str] | None = None
    if (root / "testing_set.txt").is_file():
        wanted = set(read_text(root / "testing_set.txt", "sequence list").split())
    seqs = []
    for gt_path in sorted(root.glob("*/*/groundtruth.txt"), key=lambda p: natural_key(p.parent.name)):
        d = gt_path.parent
        if wanted is not None and d.name not in wanted:
            continue
        gt = read_annotation(gt_path)
        frames = image_files(d / "img")
        _check_counts(d.name, gt, frames, gt_path)
        absent = np.zeros(len(gt), bool)
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            if (d / flag_file).is_file():
                flags = _read_flags(d / flag_file)
                if len(flags) != len(gt):
                    raise SiamcanError(f"sequence {d.name}: {d / flag_file} has {len(flags)} flags for "
                                       f"{len(gt)} frames")
                absent |= flags
        seqs.append(_make_sequence(d.name, frames, gt, absent=absent, attributes=[d.parent.name]))
    if not seqs:
        raise SiamcanError(f"no LaSOT-layout sequence (<class>/<class-N>/groundtruth.txt) found in {root}")
    return Dataset(root.name, seqs, exclude_absent=True)


def read_got10k(root: Path) -> Dataset:
    """GOT-10k val/test layout: ``<seq>/*.jpg`` + ``groundtruth.txt`` (test: first frame only, runnable but not
    scorable) + optional ``absence.label``; ``list.txt`` gives the order when present."""
    if (root / "list.txt").is_file():
        names = [check_name(n, f"{root / 'list.txt'}: sequence name")
                 for n in read_text(root / "list.txt", "sequence list").split()]
    else:
        names = sorted(p.name for p in root.iterdir() if (p / "groundtruth.txt").is_file())
    seqs = []
    for name in names:
        d = root / name
        gt_path = d / "groundtruth.txt"
        gt = read_annotation(gt_path)
        frames = image_files(d)
        scorable = True
        if len(gt) == 1 and len(frames) > 1:  # test split: only the first box is public
            gt = np.vstack([gt, np.full((len(frames) - 1, gt.shape[1]), np.nan)])
            scorable = False
        _check_counts(name, gt, frames, gt_path)
        absent = None
        if (d / "absence.label").is_file():
            absent = _read_flags(d / "absence.label")
            if len(absent) != len(gt):
                raise SiamcanError(f"sequence {name}: {d / 'absence.label'} has {len(absent)} flags for "
                                   f"{len(gt)} frames")
        seqs.append(_make_sequence(name, frames, gt, absent=absent, scorable=scorable))
    if not seqs:
        raise SiamcanError(f"no GOT-10k sequence (<seq>/groundtruth.txt) found in {root}")
    return Dataset(root.name, seqs, exclude_absent=True)


def read_vot(root: Path) -> Dataset:
    """VOT2016-2019 layout: ``list.txt``, ``<seq>/color/*.jpg`` (or ``<seq>/*.jpg``), ``groundtruth.txt`` with
    8-value polygons or 4-value rectangles, per-frame ``*.tag`` / ``*.label`` files."""
    if not (root / "list.txt").is_file():
        raise SiamcanError(f"{root / 'list.txt'} not found (VOT layout: list.txt + <seq>/groundtruth.txt)")
    seqs = []
    names = [check_name(n, f"{root / 'list.txt'}: sequence name")
             for n in read_text(root / "list.txt", "sequence list").split()]
    for name in names:
        d = root / name
        gt_path = d / "groundtruth.txt"
        gt = read_annotation(gt_path)
        frames = image_files(d / "color" if (d / "color").is_dir() else d)
        _check_counts(name, gt, frames, gt_path)
        seqs.append(_make_sequence(name, frames, gt, tags=_read_tag_files(d, len(gt))))
    return Dataset(root.name, seqs, supervised=True)


# ----------------------------------------------------------------------------- pysot JSON
def read_json(path: Path, root: Path | None = None) -> Dataset:
    """pysot-toolkit annotation JSON (``OTB100.json``, ``VOT2018.json``, ``LaSOT.json``, ...) or DaSiamRPN's
    ``OTB2015.json`` (keys like ``jogging_1`` with ``name`` = image folder: result name ``Jogging-1``, images
    under ``<name>/img/``). VOT entries with empty ``img_names`` use ``<video_dir>/color/%08d.jpg``.

    The file is untrusted input: sequence names must be plain names (they become result file names) and image
    paths must stay inside the image root (the JSON's folder, or ``root``); every value is type-checked."""
    if not path.is_file():
        raise SiamcanError(f"annotation JSON not found: {path}")
    try:
        meta = json.loads(read_text(path, "annotation JSON"))
    except json.JSONDecodeError as e:
        raise SiamcanError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise SiamcanError(f"{path}: JSON nested too deeply to be an annotation file") from None
    if not isinstance(meta, dict) or not meta:
        raise SiamcanError(f"{path}: expected a JSON object of sequences")
    root = Path(root) if root is not None else path.parent
    seqs = []
    supervised = False
    exclude_absent = False
    for key, entry in meta.items():
        where = f"{path}: sequence '{key}'"
        check_name(key, f"{path}: sequence key")
        if not isinstance(entry, dict) or "gt_rect" not in entry:
            raise SiamcanError(f"{where} has no gt_rect")
        gt = _gt_array(entry["gt_rect"], where)
        if "image_files" in entry:  # DaSiamRPN OTB2015.json
            folder = check_name(entry.get("name", key), f"{where}: name")
            suffix = key.rsplit("_", 1)[1] if re.search(r"_\d+$", key) else ""
            name = f"{folder}-{suffix}" if suffix else folder
            files = _str_list(entry["image_files"], f"{where}: image_files")
            frames = [inside(root, f"{folder}/img/{f}", f"{where}: image") for f in files]
        else:
            name = key
            video_dir = entry.get("video_dir", key)
            img_names = _str_list(entry.get("img_names") or [], f"{where}: img_names")
            if img_names:
                frames = [inside(root, f, f"{where}: image") for f in img_names]
            else:
                vd = inside(root, video_dir, f"{where}: video_dir")
                frames = [vd / "color" / f"{i:08d}.jpg" for i in range(1, len(gt) + 1)]
        if len(frames) != len(gt):
            raise SiamcanError(f"{where} has {len(gt)} gt_rect rows but {len(frames)} images")
        tags = {t: _flags(entry[t], f"{where}: {t}") for t in VOT_TAGS if entry.get(t) is not None}
        tags = {t: v for t, v in tags.items() if len(v) == len(gt)}
        is_vot = gt.shape[1] == 8 or any(t in entry for t in VOT_TAGS)
        supervised |= is_vot
        absent = None
        if entry.get("absent") is not None:  # pysot LaSOT.json: 1 = target visible
            visible = _flags(entry["absent"], f"{where}: absent", boolean=False)
            if len(visible) == len(gt):
                absent = visible == 0
                exclude_absent = True
        attrs = _str_list(entry.get("attr") or [], f"{where}: attr")
        width, height = (_size(entry.get(k), f"{where}: {k}") for k in ("width", "height"))
        seqs.append(_make_sequence(name, frames, gt, attributes=attrs, tags=tags, absent=absent, width=width,
                                   height=height, aliases=(key,) if key != name else ()))
    return Dataset(path.stem, seqs, supervised=supervised, exclude_absent=exclude_absent)


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _str_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SiamcanError(f"{where} must be a list of strings, got {_describe(value)}")
    return value


def _flags(value: object, where: str, boolean: bool = True) -> np.ndarray:
    if not isinstance(value, list) or not all(_number(v) for v in value):
        raise SiamcanError(f"{where} must be a list of numbers, got {_describe(value)}")
    arr = np.asarray(value, dtype=float).reshape(-1)
    return arr.astype(bool) if boolean else arr


def _size(value: object, where: str) -> int | None:
    if value is None:
        return None
    if not _number(value) or not 0 < value < 1e6 or int(value) != value:
        raise SiamcanError(f"{where} must be a positive whole number of pixels, got {_describe(value)}")
    return int(value)


def _describe(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict, str, int, float, type(None))) else repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _gt_array(rows: object, where: str) -> np.ndarray:
    """JSON gt rows (4 or 8 values; empty / short rows = unannotated) -> float array, NaN for unannotated."""
    if not isinstance(rows, list) or not rows:
        raise SiamcanError(f"{where}: gt_rect must be a non-empty list of boxes, got {_describe(rows)}")
    for i, r in enumerate(rows):
        if not isinstance(r, list) or not all(v is None or _number(v) for v in r):
            raise SiamcanError(f"{where}: gt_rect row {i + 1} must be a list of numbers, got {_describe(r)}")
    width = max((len(r) for r in rows), default=0)
    if width not in (4, 8):
        raise SiamcanError(f"{where}: gt_rect rows must have 4 or 8 values, got {width}")
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        if len(r) == width:
            out[i] = [math.nan if v is None else float(v) for v in r]
        elif len(r) == 4 and width == 8:  # rectangle inside a polygon file
            if any(v is None for v in r):
                continue
            x, y, w, h = (float(v) for v in r)
            out[i] = [x, y, x + w, y, x + w, y + h, x, y + h]
    return out


# ----------------------------------------------------------------------------- entry point
def load_dataset(path: str | os.PathLike, fmt: str, root: str | os.PathLike | None = None) -> Dataset:
    """Read a dataset: ``fmt`` in :data:`FORMATS`; ``path`` is the dataset folder (or the JSON file for
    ``json``; ``root`` = image root when the JSON is not inside it)."""
    p = Path(path)
    if fmt not in FORMATS:
        raise SiamcanError(f"unknown --format '{fmt}' (choose from {', '.join(FORMATS)})")
    if fmt == "json":
        return read_json(p, Path(root) if root else None)
    if not p.is_dir():
        raise SiamcanError(f"dataset folder not found: {p}")
    reader = {"otb": read_otb, "uav123": read_uav123, "lasot": read_lasot, "got10k": read_got10k,
              "vot": read_vot}[fmt]
    return reader(p)

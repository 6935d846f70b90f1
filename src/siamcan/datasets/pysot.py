"""pysot's JSON files: the pysot-toolkit benchmark annotations (``json``: ``OTB100.json``, ``VOT2018.json``,
``LaSOT.json``, DaSiamRPN's ``OTB2015.json``) and the training crop layout (``ytb`` / ``pysot_json``: ``train.json``
over ``crop511/``).

Both files are untrusted input: names that become file names must be plain names, image paths must stay inside the
image root (:func:`fileio.check_name`, :func:`fileio.inside`), and every value is type-checked, so a malformed file
is a one-line error naming the entry."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from ..fileio import check_name, inside, read_text
from .common import ReadOptions, make_sequence
from .record import Dataset

VOT_TAGS = ("camera_motion", "illum_change", "motion_change", "size_change", "occlusion")


def _load_json(path: Path, what: str) -> object:
    if not path.is_file():
        raise SiamcanError(f"{what} not found: {path}")
    try:
        return json.loads(read_text(path, what))
    except json.JSONDecodeError as e:
        raise SiamcanError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise SiamcanError(f"{path}: JSON nested too deeply to be an annotation file") from None


# ----------------------------------------------------------------------------- pysot-toolkit benchmark JSON
def read_pysot_json(root: Path, opts: ReadOptions) -> Dataset:
    """pysot-toolkit annotation JSON ``opts.anno`` with images under ``root``. DaSiamRPN's ``OTB2015.json`` has keys
    like ``jogging_1`` with ``name`` = image folder: result name ``Jogging-1``, images under ``<name>/img/``. VOT
    entries with empty ``img_names`` use ``<video_dir>/color/%08d.jpg``. The dataset is named after the file."""
    path = opts.anno
    if path is None:
        raise SiamcanError(f"format json needs the annotation JSON file (the dataset's anno) for {root}")
    meta = _load_json(path, "annotation JSON")
    if not isinstance(meta, dict) or not meta:
        raise SiamcanError(f"{path}: expected a JSON object of sequences")
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
        seqs.append(make_sequence(name, frames, gt, attributes=attrs, tags=tags, absent=absent, width=width,
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


# ----------------------------------------------------------------------------- pysot training crops
def _plain_key(key: str, where: str) -> str:
    """A track / frame key that becomes part of an image file name (fast path of :func:`fileio.check_name`)."""
    if "/" in key or "\\" in key or key in (".", "..") or not key.strip() or any(ord(c) < 32 for c in key):
        check_name(key, where)
        raise SiamcanError(f"{where} {key!r} is not a plain name")
    return key


def read_pysot_crops(root: Path, opts: ReadOptions) -> Dataset:
    """pysot crop layout (YouTube-BB etc.): ``train.json`` (or ``opts.anno``) {video: {track: {frame: [x1,y1,x2,y2]}}}
    and ``crop511/<video>/<frame>.<track>.x.jpg``. Boxes in original-frame pixels (``box_space: frame``, pysot: the
    frames are 511 crops centred on the target) or in 511-crop pixels (``box_space: crop``)."""
    anno = opts.anno if opts.anno is not None else root / "train.json"
    if opts.box_space not in ("frame", "crop"):
        raise SiamcanError(f"box_space must be 'frame' or 'crop', got '{opts.box_space}'")
    data = _load_json(anno, "annotation file")
    if not isinstance(data, dict):
        raise SiamcanError(f"{anno}: expected a JSON object {{video: {{track: {{frame: box}}}}}}")
    img_root = root / "crop511" if (root / "crop511").is_dir() else root
    crop511 = opts.box_space == "frame"
    seqs = []
    for video in sorted(data):
        where = f"{anno}: video '{video}'"
        vdir = str(inside(img_root, video, where))
        tracks = data[video]
        if not isinstance(tracks, dict):
            raise SiamcanError(f"{where} must map track ids to frames, got {_describe(tracks)}")
        for track in sorted(tracks):
            _plain_key(track, f"{where}: track")
            info = tracks[track]
            if not isinstance(info, dict):
                raise SiamcanError(f"{where}: track '{track}' must map frames to boxes, got {_describe(info)}")
            frames, boxes = [], []
            for k in sorted(k for k in info if k != "frames"):
                b = info[k]
                if not isinstance(b, list) or len(b) not in (2, 4) or not all(_number(v) for v in b):
                    raise SiamcanError(f"{where}: track '{track}' frame '{_plain_key(k, where + ': frame')}' must be "
                                       f"[x1, y1, x2, y2] numbers, got {_describe(b)}")
                if len(b) == 2:  # pysot also allows [w, h]
                    b = [0, 0, b[0], b[1]]
                frames.append(f"{vdir}/{_plain_key(k, where + ': frame')}.{track}.x.jpg")
                boxes.append([b[0], b[1], b[2] - b[0], b[3] - b[1]])
            seq = make_sequence(f"{video}/{track}", frames, boxes, required=False, crop511=crop511) if frames \
                else None
            if seq:
                seqs.append(seq)
    return Dataset(root.name, seqs)

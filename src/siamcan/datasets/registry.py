"""The one table of dataset formats (training's ``DatasetConfig.format`` and evaluation's ``--format`` names alike)
and :func:`read_dataset`, the one way to read any of them."""
from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SiamcanError
from ..fileio import atomic_write_text, check_name
from .common import ReadOptions
from .detection import read_coco, read_det, read_vid
from .folders import read_got10k, read_lasot, read_otb, read_uav123, read_vot
from .pysot import read_pysot_crops, read_pysot_json
from .record import Dataset, Sequence


@dataclass(frozen=True)
class Format:
    """A dataset format: its reader, its layout in a few words (error messages), whether it is a benchmark
    (``siamcan eval / report / tune --format``), whether the dataset is an annotation file over an image root, and
    whether the parsed index is cached (many small annotation files)."""

    read: Callable[[Path, ReadOptions], Dataset]
    layout: str
    benchmark: bool = False
    annotation_file: bool = False
    cached: bool = False


FORMATS: dict[str, Format] = {
    "otb": Format(read_otb, "<seq>/img/*.jpg + groundtruth_rect.txt or groundtruth.txt", benchmark=True),
    "uav123": Format(read_uav123, "data_seq/<set>/<video>/*.jpg + anno/<set>/<seq>.txt", benchmark=True),
    "lasot": Format(read_lasot, "<class>/<class-N>/img/*.jpg + groundtruth.txt", benchmark=True),
    "got10k": Format(read_got10k, "<seq>/*.jpg + groundtruth.txt", benchmark=True),
    "vot": Format(read_vot, "list.txt + <seq>/color/*.jpg + groundtruth.txt", benchmark=True),
    "json": Format(read_pysot_json, "a pysot-toolkit annotation JSON", benchmark=True, annotation_file=True),
    "vid": Format(read_vid, "Data/VID/train + Annotations/VID/train", cached=True),
    "det": Format(read_det, "Data/DET/train + Annotations/DET/train", cached=True),
    "coco": Format(read_coco, "annotations.json + images/, or annotations/instances_<split>.json + <split>/"),
    "ytb": Format(read_pysot_crops, "train.json + crop511/<video>/<frame>.<track>.x.jpg"),
    "pysot_json": Format(read_pysot_crops, "train.json + crop511/<video>/<frame>.<track>.x.jpg"),
}
BENCHMARK_FORMATS = tuple(name for name, f in FORMATS.items() if f.benchmark)
CACHE_VERSION = 2  # bump when the cached record changes


def read_dataset(fmt: str, root: str | os.PathLike, anno: str | os.PathLike | None = None, split: str | None = None,
                 box_space: str = "frame", label: str | None = None) -> Dataset:
    """Read one dataset of format ``fmt`` (a key of :data:`FORMATS`) at folder ``root`` (for an annotation-file
    format: the image root, ``anno`` the file). ``split``, ``box_space``: :class:`ReadOptions`. ``label`` (e.g.
    ``dataset 'UAV'``) starts the messages of the errors raised here. Missing, empty or malformed datasets raise a
    one-line SiamcanError."""
    where = f"{label}: " if label else ""
    if fmt not in FORMATS:
        raise SiamcanError(f"{where}unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    form = FORMATS[fmt]
    root = Path(root)
    if not form.annotation_file and not root.is_dir():
        raise SiamcanError(f"{where}dataset folder not found: {root}")
    if root.name in ("", ".", ".."):  # "ds/seqA/..", ".": the folder it is, so that the dataset has its own name
        root = root.resolve()
    ds = _read(form, fmt, root, anno, split, box_space, where)
    # results are written to (and reports read from) RESULTS/<dataset name>: it must be one plain path component
    check_name(ds.name, f"{where}dataset name (from {Path(anno) if form.annotation_file and anno else root})")
    return ds


def _read(form: Format, fmt: str, root: Path, anno, split: str | None, box_space: str, where: str) -> Dataset:
    opts = ReadOptions(anno=Path(anno) if anno is not None else None, split=split, box_space=box_space)
    cache = _cache_path(root, fmt, opts) if form.cached and os.environ.get("SIAMCAN_NO_INDEX_CACHE") != "1" else None
    if cache is not None:
        cached = _load_cache(cache)
        if cached is not None:
            return cached
    try:
        ds = form.read(root, opts)
    except SiamcanError:
        raise
    except RecursionError:  # JSON / XML nested thousands deep
        raise SiamcanError(f"{where}{fmt} dataset at {root}: an annotation file is nested too deeply to read") from None
    except (OSError, ValueError, ET.ParseError) as e:
        raise SiamcanError(f"{where}{fmt} dataset at {root} could not be read: "
                           f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}") from None
    if not ds.sequences:
        raise SiamcanError(f"{where}no usable {fmt} sequences found under {root} (layout: {form.layout})")
    if cache is not None:
        _save_cache(cache, ds)
    return ds


# ------------------------------------------------------------------------------------- parsed-index cache
def _cache_path(root: Path, fmt: str, opts: ReadOptions) -> Path:
    key = f"v{CACHE_VERSION}|{root.resolve()}|{fmt}|{opts.anno}|{opts.split}|{opts.box_space}"
    base = Path(os.environ.get("SIAMCAN_CACHE", Path.home() / ".cache" / "siamcan"))
    return base / "index" / f"{fmt}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def _load_cache(cache: Path) -> Dataset | None:
    if not cache.is_file():
        return None
    try:
        raw = json.loads(cache.read_text())
        return Dataset(raw["name"], [Sequence(s["name"], s["frames"], np.array(s["boxes"], float).reshape(-1, 4),
                                              absent=None if s["absent"] is None else np.array(s["absent"], bool),
                                              crop511=s["crop511"]) for s in raw["sequences"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_cache(cache: Path, ds: Dataset) -> None:
    """Only the fields of the cached (detection) formats are stored; a cache that cannot be written is skipped."""
    try:
        atomic_write_text(cache, json.dumps({"name": ds.name, "sequences": [
            dict(name=s.name, frames=s.frames, boxes=s.boxes.tolist(),
                 absent=None if s.absent is None else s.absent.tolist(), crop511=s.crop511)
            for s in ds.sequences]}))
    except OSError:
        pass

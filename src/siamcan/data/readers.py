"""Readers for raw tracking / detection datasets: each yields a list of :class:`Track` (frames + boxes).

A track is one object: the image paths it appears in and its box in each, ``x, y, w, h`` (top-left, pixels of the
stored image), plus a ``valid`` flag per frame (absent / occluded / out of view / degenerate boxes are invalid and
never sampled). Detection datasets (COCO, DET) give one single-frame track per object.

Formats (``DatasetConfig.format``): ``otb`` (custom data), ``got10k``, ``lasot``, ``vid``, ``coco``, ``det``,
``ytb`` / ``pysot_json`` (pysot's crop511 + JSON layout). Layout details: ``docs/training.md``.
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import DatasetConfig
from ..errors import SiamcanError
from ..fileio import image_files

log = logging.getLogger(__name__)


@dataclass
class Track:
    """One object through a sequence (or a single image)."""

    name: str
    frames: list[str]
    boxes: np.ndarray  # (N, 4) float32 x, y, w, h
    valid: np.ndarray  # (N,) bool
    crop511: bool = False  # frames are pysot 511 crops centred on the target

    def valid_index(self) -> np.ndarray:
        return np.flatnonzero(self.valid)


def _finish(name: str, frames: list[str], boxes, valid=None, crop511: bool = False) -> Track | None:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    ok = np.isfinite(b).all(1) & (b[:, 2] > 0) & (b[:, 3] > 0)
    if valid is not None:
        ok &= np.asarray(valid, bool)
    if not ok.any():
        return None
    return Track(name, frames, np.nan_to_num(b), ok, crop511)


def read_box_file(path: Path) -> np.ndarray:
    """Boxes x,y,w,h per line, separated by commas, tabs or spaces; ``nan`` lines kept as NaN."""
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        try:
            vals = [float(v) for v in parts[:4]]
        except ValueError:
            raise SiamcanError(f"{path}: line {i + 1} is not x,y,w,h numbers: {line[:60]!r}") from None
        if len(vals) != 4:
            raise SiamcanError(f"{path}: line {i + 1} has {len(vals)} values, expected x,y,w,h")
        rows.append(vals)
    return np.array(rows, np.float32).reshape(-1, 4)


def _read_flags(path: Path, n: int) -> np.ndarray:
    """0/1 flags, one per frame, separated by commas or newlines (LaSOT, GOT-10k label files)."""
    if not path.is_file():
        return np.zeros(n, bool)
    vals = path.read_text().replace(",", " ").split()
    f = np.array([float(v) for v in vals], np.float32)
    out = np.zeros(n, np.float32)
    out[: min(n, len(f))] = f[:n]
    return out


def _images(folder: Path) -> list[str]:
    return [str(p) for p in image_files(folder)]


def _names_filter(cfg: DatasetConfig, root: Path) -> set[str] | None:
    """Optional list of sequence names (``anno`` = a text file, one name per line)."""
    if not cfg.anno:
        return None
    p = Path(cfg.anno)
    p = p if p.is_absolute() else root / p
    if not p.is_file():
        raise SiamcanError(f"dataset '{cfg.name}': sequence list {p} not found")
    return {ln.strip() for ln in p.read_text().splitlines() if ln.strip()}


# ------------------------------------------------------------------------------------------- readers
def read_otb(root: Path, cfg: DatasetConfig) -> list[Track]:
    """OTB-style folders anywhere below ``root``: ``<seq>/img/*.jpg`` + ``groundtruth.txt`` / ``groundtruth_rect.txt``."""
    keep = _names_filter(cfg, root)
    tracks = []
    for dirpath, dirnames, _ in os.walk(root):
        d = Path(dirpath)
        gt = next((d / n for n in ("groundtruth.txt", "groundtruth_rect.txt") if (d / n).is_file()), None)
        if gt is None or not (d / "img").is_dir():
            dirnames.sort()
            continue
        dirnames[:] = []
        if keep is not None and d.name not in keep:
            continue
        frames = _images(d / "img")
        boxes = read_box_file(gt)
        if len(boxes) != len(frames):
            log.warning("%s: %d boxes for %d images; using the first %d", d, len(boxes), len(frames),
                        min(len(boxes), len(frames)))
        n = min(len(boxes), len(frames))
        t = _finish(str(d.relative_to(root)) or d.name, frames[:n], boxes[:n])
        if t:
            tracks.append(t)
    return tracks


def read_got10k(root: Path, cfg: DatasetConfig) -> list[Track]:
    """GOT-10k train: ``<root>/<seq>/00000001.jpg`` + groundtruth.txt, absence.label, cover.label (0 = fully hidden)."""
    keep = _names_filter(cfg, root)
    lst = root / "list.txt"
    names = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()] if lst.is_file() else \
        sorted(p.name for p in root.iterdir() if (p / "groundtruth.txt").is_file())
    tracks = []
    for name in names:
        if keep is not None and name not in keep:
            continue
        d = root / name
        frames = _images(d)
        boxes = read_box_file(d / "groundtruth.txt")
        n = min(len(frames), len(boxes))
        absent = _read_flags(d / "absence.label", n) > 0
        cover = d / "cover.label"
        hidden = (_read_flags(cover, n) == 0) if cover.is_file() else np.zeros(n, bool)
        t = _finish(name, frames[:n], boxes[:n], ~absent & ~hidden)
        if t:
            tracks.append(t)
    return tracks


def read_lasot(root: Path, cfg: DatasetConfig) -> list[Track]:
    """LaSOT: ``<root>/<class>/<class>-<N>/img/*.jpg`` + groundtruth.txt, full_occlusion.txt, out_of_view.txt."""
    keep = _names_filter(cfg, root)
    tracks = []
    for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for d in sorted(p for p in cls_dir.iterdir() if (p / "groundtruth.txt").is_file()):
            if keep is not None and d.name not in keep:
                continue
            frames = _images(d / "img")
            boxes = read_box_file(d / "groundtruth.txt")
            n = min(len(frames), len(boxes))
            bad = (_read_flags(d / "full_occlusion.txt", n) > 0) | (_read_flags(d / "out_of_view.txt", n) > 0)
            t = _finish(d.name, frames[:n], boxes[:n], ~bad)
            if t:
                tracks.append(t)
    return tracks


def _xml_objects(path: Path) -> list[tuple[str, list[float]]]:
    """(trackid or name, [x, y, w, h]) of each object of an ImageNet VID / DET annotation file."""
    out = []
    for obj in ET.parse(path).getroot().iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        x1, y1, x2, y2 = (float(bb.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax"))
        tid = obj.findtext("trackid") or ""
        out.append((tid, [x1, y1, x2 - x1, y2 - y1]))
    return out


def _find_sub(root: Path, *parts: str) -> Path:
    for base in (root, root / "ILSVRC2015", root / "ILSVRC"):
        p = base.joinpath(*parts)
        if p.is_dir():
            return p
    raise SiamcanError(f"dataset root {root} has no {'/'.join(parts)} folder")


def read_vid(root: Path, cfg: DatasetConfig) -> list[Track]:
    """ImageNet VID: ``Data/VID/train/<...>/<snippet>/*.JPEG`` + ``Annotations/VID/train/<...>/<snippet>/*.xml``."""
    ann_root = _find_sub(root, "Annotations", "VID", "train")
    data_root = _find_sub(root, "Data", "VID", "train")
    snippets = sorted({os.path.dirname(p) for p in glob.glob(str(ann_root / "**" / "*.xml"), recursive=True)})
    tracks = []
    for snip in snippets:
        rel = os.path.relpath(snip, ann_root)
        per: dict[str, tuple[list[str], list[list[float]]]] = {}
        for xml in sorted(glob.glob(os.path.join(snip, "*.xml"))):
            img = str(data_root / rel / (Path(xml).stem + ".JPEG"))
            for tid, box in _xml_objects(Path(xml)):
                fr, bx = per.setdefault(tid, ([], []))
                fr.append(img)
                bx.append(box)
        for tid, (fr, bx) in sorted(per.items()):
            t = _finish(f"{rel}/{tid}", fr, bx)
            if t:
                tracks.append(t)
    return tracks


def read_det(root: Path, cfg: DatasetConfig) -> list[Track]:
    """ImageNet DET: ``Data/DET/train/<...>/<name>.JPEG`` + ``Annotations/DET/train/<...>/<name>.xml``."""
    ann_root = _find_sub(root, "Annotations", "DET", "train")
    data_root = _find_sub(root, "Data", "DET", "train")
    tracks = []
    for xml in sorted(glob.glob(str(ann_root / "**" / "*.xml"), recursive=True)):
        rel = os.path.relpath(xml, ann_root)[:-4]
        img = str(data_root / (rel + ".JPEG"))
        for k, (_, box) in enumerate(_xml_objects(Path(xml))):
            t = _finish(f"{rel}/{k}", [img], [box])
            if t:
                tracks.append(t)
    return tracks


def read_coco(root: Path, cfg: DatasetConfig) -> list[Track]:
    """COCO json: ``annotations/instances_<split>.json`` + ``<split>/`` images, or ``annotations.json`` + ``images/``."""
    if cfg.anno:
        anno = Path(cfg.anno) if Path(cfg.anno).is_absolute() else root / cfg.anno
    elif (root / "annotations.json").is_file():
        anno = root / "annotations.json"
    else:
        cands = sorted((root / "annotations").glob("instances_train*.json")) if (root / "annotations").is_dir() else []
        if not cands:
            raise SiamcanError(f"COCO dataset root {root} has neither annotations.json nor "
                               "annotations/instances_train*.json")
        anno = cands[0]
    if not anno.is_file():
        raise SiamcanError(f"COCO annotation file {anno} not found")
    if (root / "images").is_dir():
        img_dir = root / "images"
    elif anno.stem.startswith("instances_") and (root / anno.stem[len("instances_"):]).is_dir():
        img_dir = root / anno.stem[len("instances_"):]
    else:
        img_dir = root
    try:
        data = json.loads(anno.read_text())
        files = {im["id"]: str(img_dir / im["file_name"]) for im in data["images"]}
        anns = data["annotations"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise SiamcanError(f"COCO annotation file {anno} is not valid COCO json ({type(e).__name__}: {e})") from None
    tracks = []
    for a in anns:
        if a.get("iscrowd", 0) or a["image_id"] not in files:
            continue
        t = _finish(f"{a['image_id']}/{a.get('id', len(tracks))}", [files[a["image_id"]]], [a["bbox"]])
        if t:
            tracks.append(t)
    return tracks


def read_pysot_json(root: Path, cfg: DatasetConfig) -> list[Track]:
    """pysot crop layout (YouTube-BB etc.): ``train.json`` {video: {track: {frame: [x1,y1,x2,y2]}}} and
    ``crop511/<video>/<frame>.<track>.x.jpg``. Boxes in original-frame pixels (``box_space: frame``, pysot) or
    in 511-crop pixels (``box_space: crop``)."""
    anno = Path(cfg.anno) if cfg.anno else root / "train.json"
    anno = anno if anno.is_absolute() else root / anno
    if not anno.is_file():
        raise SiamcanError(f"dataset '{cfg.name}': annotation file {anno} not found")
    img_root = root / "crop511" if (root / "crop511").is_dir() else root
    if cfg.box_space not in ("frame", "crop"):
        raise SiamcanError(f"dataset '{cfg.name}': box_space must be 'frame' or 'crop', got '{cfg.box_space}'")
    try:
        data = json.loads(anno.read_text())
    except json.JSONDecodeError as e:
        raise SiamcanError(f"{anno} is not valid JSON: {e}") from None
    tracks = []
    for video in sorted(data):
        for track in sorted(data[video]):
            info = data[video][track]
            keys = sorted(k for k in info if k != "frames")
            frames, boxes = [], []
            for k in keys:
                b = info[k]
                if len(b) == 2:  # pysot also allows [w, h]
                    b = [0, 0, b[0], b[1]]
                frames.append(str(img_root / video / f"{k}.{track}.x.jpg"))
                boxes.append([b[0], b[1], b[2] - b[0], b[3] - b[1]])
            t = _finish(f"{video}/{track}", frames, boxes, crop511=cfg.box_space == "frame")
            if t:
                tracks.append(t)
    return tracks


READERS: dict[str, Callable[[Path, DatasetConfig], list[Track]]] = {
    "otb": read_otb, "got10k": read_got10k, "lasot": read_lasot, "vid": read_vid, "det": read_det,
    "coco": read_coco, "ytb": read_pysot_json, "pysot_json": read_pysot_json,
}
_CACHED = ("vid", "det")  # many small XML files: the parsed index is cached


def resolve_root(root: str) -> Path:
    """A dataset root; relative paths are relative to the current directory."""
    if not root:
        raise SiamcanError("dataset root is empty")
    p = Path(os.path.expanduser(root))
    return p if p.is_absolute() else Path.cwd() / p


def _cache_path(root: Path, cfg: DatasetConfig) -> Path:
    key = hashlib.sha1(f"{root.resolve()}|{cfg.format}|{cfg.anno}".encode()).hexdigest()[:16]
    base = Path(os.environ.get("SIAMCAN_CACHE", Path.home() / ".cache" / "siamcan"))
    return base / "index" / f"{cfg.format}-{key}.json"


def read_dataset(cfg: DatasetConfig) -> list[Track]:
    """All tracks of one configured dataset. Missing / empty / malformed datasets raise SiamcanError."""
    if cfg.format not in READERS:
        raise SiamcanError(f"dataset '{cfg.name}': unknown format '{cfg.format}' (choose from {', '.join(READERS)})")
    root = resolve_root(cfg.root)
    if not root.is_dir():
        raise SiamcanError(f"dataset '{cfg.name}': root folder {root} not found")
    cache = _cache_path(root, cfg) if cfg.format in _CACHED else None
    if cache is not None and cache.is_file() and os.environ.get("SIAMCAN_NO_INDEX_CACHE") != "1":
        try:
            raw = json.loads(cache.read_text())
            return [Track(t["name"], t["frames"], np.array(t["boxes"], np.float32).reshape(-1, 4),
                          np.array(t["valid"], bool), t["crop511"]) for t in raw]
        except (OSError, ValueError, KeyError):
            pass
    try:
        tracks = READERS[cfg.format](root, cfg)
    except SiamcanError:
        raise
    except (OSError, ValueError, ET.ParseError) as e:
        raise SiamcanError(f"dataset '{cfg.name}' ({cfg.format}) at {root} could not be read: "
                           f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    if not tracks:
        raise SiamcanError(f"dataset '{cfg.name}': no usable {cfg.format} sequences found under {root}")
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps([dict(name=t.name, frames=t.frames, boxes=t.boxes.tolist(),
                                            valid=t.valid.tolist(), crop511=t.crop511) for t in tracks]))
            os.replace(tmp, cache)
        except OSError:
            pass
    return tracks

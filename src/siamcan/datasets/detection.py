"""Detection-style training data: ImageNet VID (one sequence per object track), ImageNet DET and COCO (one
single-frame sequence per object). Objects without a usable box are skipped, not errors."""
from __future__ import annotations

import glob
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import SiamcanError
from ..fileio import inside, read_text
from .common import ReadOptions, make_sequence
from .record import Dataset


def _xml_objects(path: Path) -> list[tuple[str, list[float]]]:
    """(trackid or '', [x, y, w, h]) of each object of an ImageNet VID / DET annotation file."""
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


def read_vid(root: Path, opts: ReadOptions) -> Dataset:
    """ImageNet VID: ``Data/VID/train/<...>/<snippet>/*.JPEG`` + ``Annotations/VID/train/<...>/<snippet>/*.xml``;
    one sequence per ``trackid``, of the frames the object is in."""
    ann_root = _find_sub(root, "Annotations", "VID", "train")
    data_root = _find_sub(root, "Data", "VID", "train")
    snippets = sorted({os.path.dirname(p) for p in glob.glob(str(ann_root / "**" / "*.xml"), recursive=True)})
    seqs = []
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
            seq = make_sequence(f"{rel}/{tid}", fr, bx, required=False)
            if seq:
                seqs.append(seq)
    return Dataset(root.name, seqs)


def read_det(root: Path, opts: ReadOptions) -> Dataset:
    """ImageNet DET: ``Data/DET/train/<...>/<name>.JPEG`` + ``Annotations/DET/train/<...>/<name>.xml``."""
    ann_root = _find_sub(root, "Annotations", "DET", "train")
    data_root = _find_sub(root, "Data", "DET", "train")
    seqs = []
    for xml in sorted(glob.glob(str(ann_root / "**" / "*.xml"), recursive=True)):
        rel = os.path.relpath(xml, ann_root)[:-4]
        img = str(data_root / (rel + ".JPEG"))
        for k, (_, box) in enumerate(_xml_objects(Path(xml))):
            seq = make_sequence(f"{rel}/{k}", [img], [box], required=False)
            if seq:
                seqs.append(seq)
    return Dataset(root.name, seqs)


def read_coco(root: Path, opts: ReadOptions) -> Dataset:
    """COCO json: ``annotations/instances_<split>.json`` + ``<split>/`` images, or ``annotations.json`` +
    ``images/`` (``opts.anno``: another annotation file). Crowd annotations are skipped."""
    if opts.anno is not None:
        anno = opts.anno
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
        data = json.loads(read_text(anno, "COCO annotation file"))
        # a file_name is relative to the image folder and stays inside it (no "../..", no absolute path)
        files = {im["id"]: str(inside(img_dir, im["file_name"], f"{anno}: image {im['id']} file_name"))
                 for im in data["images"]}
        anns = data["annotations"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise SiamcanError(f"COCO annotation file {anno} is not valid COCO json ({type(e).__name__}: {e})") from None
    if not isinstance(anns, list):
        raise SiamcanError(f"COCO annotation file {anno}: 'annotations' must be a list, got {type(anns).__name__}")
    seqs = []
    for i, a in enumerate(anns):
        if not isinstance(a, dict) or not isinstance(a.get("image_id"), (int, str)) or "bbox" not in a:
            raise SiamcanError(f"COCO annotation file {anno}: annotation {i + 1} needs an image_id (a number) and a "
                               f"bbox, got {str(a)[:80]}")
        if a.get("iscrowd", 0) or a["image_id"] not in files:
            continue
        seq = make_sequence(f"{a['image_id']}/{a.get('id', len(seqs))}", [files[a["image_id"]]], [a["bbox"]],
                            required=False)
        if seq:
            seqs.append(seq)
    return Dataset(root.name, seqs)

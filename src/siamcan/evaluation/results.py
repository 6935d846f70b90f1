"""Result files in the pysot-toolkit layout.

One-pass: ``DIR/<dataset>/<tracker>/<seq>.txt`` (one ``x,y,w,h`` line per frame).
One-pass runs also write ``<seq>_confidence.value`` beside the boxes (one confidence per frame, the init frame an
empty line: the VOT long-term convention), read by the long-term measures.
VOT supervised: ``DIR/<dataset>/<tracker>/baseline/<seq>/<seq>_001.txt`` (``1`` init, ``2`` failure, ``0``
skipped, else ``x,y,w,h``). ``DIR`` may also point at the dataset level directly (``DIR/<tracker>/...``).

A one-pass result file is found under the sequence's name (``Jogging-1.txt``), under the key of the annotation JSON
(``jogging_1.txt``) or under pysot-toolkit's lower-case fallbacks (``basketball.txt``, ``jogging_1.txt``), so raw
results in either naming score the same.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from ..fileio import atomic_write_text, check_name, read_boxes, read_rows
from .datasets import Dataset, Sequence
from .metrics import Trajectory


def tracker_root(results: Path, dataset: str) -> Path:
    """``results/<dataset>`` when it exists, else ``results`` itself (already the dataset level)."""
    return results / dataset if (results / dataset).is_dir() else results


def one_pass_path(results: Path, dataset: str, tracker: str, seq: str) -> Path:
    return results / dataset / tracker / f"{seq}.txt"


def vot_path(results: Path, dataset: str, tracker: str, seq: str) -> Path:
    return results / dataset / tracker / "baseline" / seq / f"{seq}_001.txt"


def result_names(seq: Sequence, taken: set[str] = frozenset()) -> list[str]:
    """File names (without ``.txt``) that may hold the one-pass result of ``seq``, in the order tried: its name, its
    aliases (the annotation JSON's key), then pysot-toolkit's fallbacks (first letter lower-case - ``carDark`` -
    or all lower case with ``_`` for ``-`` - ``jogging_1``, ``fleetface``). Names in ``taken`` (other sequences'
    own names) are skipped."""
    n = seq.name
    out = [n]
    for c in (*seq.aliases, n[:1].lower() + n[1:], n.lower(), n.lower().replace("-", "_"), n.replace("-", "_")):
        if c and c not in out and c not in taken:
            out.append(c)
    return out


def list_trackers(results: Path, dataset: str) -> list[str]:
    root = tracker_root(results, dataset)
    if not root.is_dir():
        raise SiamcanError(f"results folder not found: {root}")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise SiamcanError(f"no tracker folders in {root}")
    return names


def read_one_pass(path: Path) -> np.ndarray:
    """``x,y,w,h`` rows (comma / tab / space separated; 'nan' allowed) -> (N, 4) (:func:`fileio.read_boxes`)."""
    return read_boxes(path, 4, "result file", allow_empty=True)


VOT_CODES = {0: "skipped", 1: "init", 2: "failure"}


def read_vot(path: Path) -> Trajectory:
    """VOT baseline result -> list of rows ([1] / [2] / [0] codes, x,y,w,h or a polygon of 3+ points); the first
    row is the init code 1. Anything else (a code 7, a row of 3 values) is a one-line SiamcanError naming the line."""
    rows = read_rows(path, "result file")
    for i, row in enumerate(rows, 1):
        if len(row) == 1:
            if row[0] not in VOT_CODES:
                raise SiamcanError(f"{path}: row {i}: unknown VOT code {row[0]:g} (0 skipped, 1 init, 2 failure)")
        elif len(row) != 4 and (len(row) < 6 or len(row) % 2):
            raise SiamcanError(f"{path}: row {i}: expected a code (0, 1 or 2), x,y,w,h or a polygon x1,y1,x2,y2,... "
                               f"(an even number of values, at least 6), got {len(row)} values")
    if rows[0] != [1]:
        raise SiamcanError(f"{path}: the first row of a VOT result must be the init code 1, got "
                           f"{','.join(f'{v:g}' for v in rows[0])}")
    return rows


def load_results(results: Path, dataset: Dataset, tracker: str) -> dict:
    """Result arrays / trajectories of one tracker, keyed by sequence name (missing files are left out; one-pass
    files are looked up under :func:`result_names`)."""
    check_name(tracker, "tracker name")
    root = tracker_root(results, dataset.name) / tracker
    if not root.is_dir():
        raise SiamcanError(f"no results for tracker '{tracker}' in {root.parent}")
    out = {}
    for seq in dataset:
        p = result_file(root, dataset, seq)
        if p is None:
            continue
        if dataset.supervised:
            out[seq.name] = read_vot(p)
            if len(out[seq.name]) != len(seq.gt):
                raise SiamcanError(f"{p} has {len(out[seq.name])} rows, sequence {seq.name} has {len(seq.gt)} "
                                   "frames: a VOT result has one row per frame")
        else:
            out[seq.name] = read_one_pass(p)
    return out


def result_file(root: Path, dataset: Dataset, seq: Sequence) -> Path | None:
    """The result file of ``seq`` in a tracker's folder ``root`` (one-pass: under :func:`result_names`), or None."""
    if dataset.supervised:
        p = root / "baseline" / seq.name / f"{seq.name}_001.txt"
        return p if p.is_file() else None
    names = {s.name for s in dataset}
    for name in result_names(seq, names - {seq.name}):
        p = root / f"{name}.txt"
        if p.is_file():
            return p
    return None


def format_row(row: list[float]) -> str:
    if len(row) == 1:
        return str(int(row[0]))
    return ",".join(f"{v:.4f}" for v in row)


def confidence_path(result: Path) -> Path:
    """``<seq>_confidence.value`` beside a one-pass result file ``<seq>.txt`` (the VOT long-term convention)."""
    return result.with_name(f"{result.stem}_confidence.value")


def write_confidence(path: Path, scores: list[float]) -> None:
    """One confidence per frame, atomically; the init frame (NaN) is an empty line, as the VOT toolkit writes it."""
    atomic_write_text(path, "".join(("" if not math.isfinite(v) else f"{v:.6f}") + "\n" for v in scores))


def read_confidence(path: Path, frames: int) -> np.ndarray | None:
    """The confidences of a result file (NaN for empty lines), or None when the file is absent or does not have one
    value per frame."""
    if not path.is_file():
        return None
    from ..fileio import read_text

    lines = read_text(path, "confidence file").splitlines()
    if len(lines) != frames:
        return None
    try:
        return np.array([float(v) if v.strip() else np.nan for v in lines])
    except ValueError:
        return None


def write_rows(path: Path, rows: list[list[float]]) -> None:
    """Write result rows atomically (complete file or none)."""
    atomic_write_text(path, "".join(format_row(list(r)) + "\n" for r in rows))

"""Benchmark datasets for evaluation: the shared readers of :mod:`siamcan.datasets`, opened the way
``siamcan eval / report / tune`` name them (a folder, or an annotation JSON and its image root).

``Sequence`` and ``Dataset`` are the records every reader returns (training samples from the same records).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..datasets import BENCHMARK_FORMATS as FORMATS
from ..datasets import FORMATS as _ALL_FORMATS
from ..datasets import Dataset, Sequence, combine, read_dataset
from ..datasets.folders import OTB_FRAME_RANGES
from ..datasets.pysot import VOT_TAGS
from ..errors import SiamcanError

__all__ = ["FORMATS", "OTB_FRAME_RANGES", "VOT_TAGS", "Dataset", "Sequence", "combine", "load_dataset"]


def load_dataset(path: str | os.PathLike, fmt: str, root: str | os.PathLike | None = None) -> Dataset:
    """Read a benchmark's test split: ``fmt`` in :data:`FORMATS`; ``path`` is the dataset folder (or the JSON file
    for ``json``; ``root`` = image root when the JSON is not inside it)."""
    if fmt not in FORMATS:
        raise SiamcanError(f"unknown --format '{fmt}' (choose from {', '.join(FORMATS)})")
    p = Path(path)
    if _ALL_FORMATS[fmt].annotation_file:
        return read_dataset(fmt, Path(root) if root else p.parent, anno=p, split="test")
    return read_dataset(fmt, p, split="test")

"""Dataset readers: one reader per format, one record type, one registry, for training and evaluation alike.

Every format (OTB, UAV123, LaSOT, GOT-10k, VOT, pysot-toolkit JSON, ImageNet VID / DET, COCO, pysot crops) is read
by one function into a :class:`Dataset` of :class:`Sequence` records (frames + ``x, y, w, h`` boxes, NaN rows where
unannotated, plus what a format has: absent flags, VOT polygons and tags, attributes, image size). Training
(:func:`siamcan.data.readers.read_dataset`) and evaluation (:func:`siamcan.evaluation.load_dataset`) both call
:func:`read_dataset` with a name of :data:`FORMATS`. Layouts: ``docs/training.md``, ``docs/evaluation.md``.

This layer imports only ``errors``, ``fileio`` and ``geometry``.
"""
from .common import ReadOptions
from .registry import BENCHMARK_FORMATS, FORMATS, Format, read_dataset
from .record import Dataset, Sequence, combine

__all__ = ["BENCHMARK_FORMATS", "FORMATS", "Dataset", "Format", "ReadOptions", "Sequence", "combine",
           "read_dataset"]

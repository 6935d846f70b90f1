"""Benchmark evaluation: dataset readers, pysot-toolkit metrics, tracker runs and reports (pure numpy)."""
from .datasets import FORMATS, Dataset, Sequence, load_dataset
from .geometry import box_iou, polygon_to_init_rect, region_overlap
from .metrics import (EAO_RANGES, OPEScore, VOTScore, score_one_pass, score_vot, summarize_one_pass,
                      summarize_vot)

__all__ = ["FORMATS", "Dataset", "Sequence", "load_dataset", "box_iou", "polygon_to_init_rect", "region_overlap",
           "EAO_RANGES", "OPEScore", "VOTScore", "score_one_pass", "score_vot", "summarize_one_pass",
           "summarize_vot"]

"""How well the NanoTrack teacher labels real training pairs, and what it costs.

    python benchmarks/check_teacher.py [--config configs/siamcan-lite-distill.yaml] [--pairs 64] [--seed 0]

Positive pairs (no negatives, no gray) from the config's training datasets; for each, NanoTrack's peak point on our
25x25 grid and its box there are compared with the pair's ground-truth box. Prints the share of peaks within 16 px
of the object centre, the median IoU of the teacher's box, and the teacher's time per pair (template + search +
head, one process). The numbers quoted in docs/training.md and the model card come from here.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np


def main(argv=None) -> int:
    from siamcan.config import load_config
    from siamcan.data.pairs import PairDataset
    from siamcan.data.teacher import NanoTrackTeacher
    from siamcan.evaluation.geometry import box_iou
    from siamcan.tracking.geometry import crop_points

    p = argparse.ArgumentParser()
    p.add_argument("--config", default="configs/siamcan-lite-distill.yaml")
    p.add_argument("--pairs", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    cfg = load_config(a.config)
    t = dataclasses.replace(cfg.train, neg_prob=0.0, gray_prob=0.0, teacher=None)
    ds = PairDataset(t, t.datasets, a.pairs, a.seed)
    teacher = NanoTrackTeacher(cfg.train.teacher)
    px, py = crop_points()
    near, ious, secs = [], [], []
    for i in range(len(ds)):
        item = ds[i]
        t0 = time.perf_counter()
        prob, ltrb, _ = teacher.pair(item["template"].numpy(), item["search"].numpy())
        secs.append(time.perf_counter() - t0)
        k = np.unravel_index(prob.argmax(), prob.shape)
        x1, y1, x2, y2 = item["bbox"].numpy()
        near.append(np.hypot(px[k] - (x1 + x2) / 2, py[k] - (y1 + y2) / 2) < 16)
        tb = np.array([px[k] - ltrb[0][k], py[k] - ltrb[1][k], ltrb[2][k] + ltrb[0][k], ltrb[3][k] + ltrb[1][k]])
        ious.append(box_iou(tb, np.array([x1, y1, x2 - x1, y2 - y1]))[0])
    print(f"{len(ds)} positive training pairs ({', '.join(d.name for d in t.datasets)}), seed {a.seed}")
    print(f"teacher peak within 16 px of the object centre: {np.mean(near):.1%}")
    print(f"median IoU of the teacher's box at its peak: {np.median(ious):.2f} (> 0.5 in {np.mean(np.array(ious) > 0.5):.1%})")
    print(f"teacher time: {1000 * np.median(secs[1:]):.1f} ms a pair (median, first pair not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How well the NanoTrack teacher labels real training pairs, and what it costs.

    python benchmarks/check_teacher.py [--config configs/siamcan-lite-distill.yaml] [--pairs 64] [--seed 0]

Positive pairs (no negatives, no gray) from the config's training datasets; for each, NanoTrack's peak point on our
25x25 grid and its box there are compared with the pair's ground-truth box. Prints the share of peaks within 16 px
of the object centre, the median IoU of the teacher's box, and the teacher's time per pair (template + search +
head, one thread as in a DataLoader worker). Then the cost of pseudo-labels (``train.pseudo_prob``): the same
positive pairs made with ``pseudo_prob`` 0 and 1, interleaved pair by pair in one process, teacher labels on both,
and the share of pairs that became pseudo-labelled. The numbers quoted in docs/training.md and the model card come
from here.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np


def main(argv=None) -> int:
    from siamcan.config import load_config
    from siamcan.data.pairs import PairDataset, worker_init
    from siamcan.data.teacher import NanoTrackTeacher
    from siamcan.evaluation.geometry import box_iou
    from siamcan.geometry import CropGeometry

    p = argparse.ArgumentParser()
    p.add_argument("--config", default="configs/siamcan-lite-distill.yaml")
    p.add_argument("--pairs", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    worker_init(0)  # one thread, as in a DataLoader worker, where the labelling runs during training
    cfg = load_config(a.config)
    t = dataclasses.replace(cfg.train, neg_prob=0.0, gray_prob=0.0, teacher=None)
    ds = PairDataset(t, t.datasets, a.pairs, a.seed)
    teacher = NanoTrackTeacher(cfg.train.teacher)
    px, py = CropGeometry.from_config(cfg.tracker).points()
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

    base = dataclasses.replace(t, teacher=cfg.train.teacher)
    plain, pseudo = (PairDataset(dataclasses.replace(base, pseudo_prob=q), t.datasets, a.pairs, a.seed)
                     for q in (0.0, 1.0))
    found = []  # one entry per region tried: True when it passed the checks (the pair became pseudo-labelled)
    try_region = pseudo._pseudo_track

    def counted(*args, **kwargs):
        track = try_region(*args, **kwargs)
        found.append(track is not None)
        return track

    pseudo._pseudo_track = counted
    cost = {0.0: [], 1.0: []}
    became = 0
    for i in range(len(ds)):
        for q, d in ((0.0, plain), (1.0, pseudo)):
            n = len(found)
            t0 = time.perf_counter()
            d[i]
            cost[q].append(time.perf_counter() - t0)
        became += any(found[n:])
    extra = 1000 * (np.median(cost[1.0][1:]) - np.median(cost[0.0][1:]))
    print(f"pair with teacher labels: {1000 * np.median(cost[0.0][1:]):.1f} ms (pseudo_prob 0) vs "
          f"{1000 * np.median(cost[1.0][1:]):.1f} ms (pseudo_prob 1), {extra:+.1f} ms; "
          f"{became / len(ds):.0%} of the pairs became pseudo-labelled ({np.mean(found):.0%} of the "
          f"{len(found)} regions tried passed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training-data throughput alone (no model): pairs/s of the DataLoader, per worker count and labelling setting.

    python benchmarks/bench_loader.py [--config configs/siamcan-lite-pseudo.yaml] [--workers 1,2] [--batches 20]

For each worker count: the config as it is (teacher and pseudo-labels as configured), then without pseudo-labels,
then without the teacher, measured one after another in one process. The first batch (worker start, teacher
nets loaded) is timed apart. On a GPU machine this is the ceiling of `siamcan train`. On a lent H100 machine's 16
cores, for the setting of

    python benchmarks/bench_loader.py --config configs/siamcan-lite-pseudo-gpu.yaml --datasets UAV \
        --workers 15,1 --batches 40 --batch-size 64

(measured with an equivalent loop before this script existed; one worker was timed on 4 batches), 15 workers gave
232 pairs/s with teacher + pseudo_prob 0.5, 887 with the teacher alone, 2206 plain; one worker 14 and 163. The
training run there made 214 pairs/s.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time


def main(argv=None) -> int:
    from siamcan.config import load_config
    from siamcan.data.pairs import PairDataset, pair_loader

    p = argparse.ArgumentParser()
    p.add_argument("--config", default="configs/siamcan-lite-pseudo.yaml")
    p.add_argument("--workers", default="1,2", help="comma list of DataLoader worker counts")
    p.add_argument("--batches", type=int, default=20, help="batches timed per setting (after the first)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--datasets", nargs="+", default=None, help="only these of the config's datasets (by name)")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    t0 = cfg.train
    if args.datasets:
        t0 = dataclasses.replace(t0, datasets=tuple(d for d in t0.datasets if d.name in args.datasets))
        if not t0.datasets:
            p.error(f"none of {args.datasets} is among the config's datasets")
    bs = args.batch_size or t0.batch_size
    settings = [("as configured", t0)]
    if t0.pseudo_prob > 0:
        settings.append(("no pseudo-labels", dataclasses.replace(t0, pseudo_prob=0.0)))
    if t0.teacher:
        settings.append(("no teacher", dataclasses.replace(t0, pseudo_prob=0.0, teacher=None)))
    print(f"{args.config}: batch {bs}, {args.batches} batches timed after the first")
    for workers in (int(w) for w in args.workers.split(",")):
        for name, t in settings:
            ds = PairDataset(t, t.datasets, bs * (args.batches + 1), t.seed)
            start = time.perf_counter()
            n, first = 0, None
            for i, batch in enumerate(pair_loader(ds, workers, batch_size=bs, shuffle=False)):
                if i == 0:
                    first = time.perf_counter()
                else:
                    n += batch["search"].shape[0]
            end = time.perf_counter()
            print(f"workers {workers:2d}  {name:<17} first batch {first - start:5.1f} s, "
                  f"then {n / (end - first):7.1f} pairs/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training-step time on CPU, NCHW vs channels-last (NHWC), side by side in one run.

    python benchmarks/bench_train_step.py [--config configs/siamcan-lite.yaml] [--batch 16] [--steps 4]

For the backbone frozen (epoch 0) and unfrozen (an epoch after ``unfreeze_epoch``), times forward + backward of one
batch of random 127/255 crops and prints the median seconds per batch for both memory formats and their ratio.
This produces the `channels_last` numbers in docs/training.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time


def main(argv=None) -> int:
    import torch

    from siamcan.config import load_config
    from siamcan.models import build_model
    from siamcan.training.trainer import set_train_mode, set_trainable

    p = argparse.ArgumentParser()
    p.add_argument("--config", default="configs/siamcan-lite.yaml")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=4, help="timed steps per setting, after one warm-up step")
    a = p.parse_args(argv)
    cfg = load_config(a.config)
    print(f"{cfg.name}, batch {a.batch}, {torch.get_num_threads()} threads")
    print("backbone   NCHW s/batch   NHWC s/batch   NHWC speed-up")
    for label, epoch in (("frozen", 0), ("unfrozen", cfg.train.unfreeze_epoch)):
        med = {}
        for cl in (False, True):
            torch.manual_seed(0)
            model = build_model(cfg.model)
            set_trainable(model, cfg, epoch)
            set_train_mode(model, cfg, epoch)
            z, x = torch.rand(a.batch, 3, 127, 127) * 255, torch.rand(a.batch, 3, 255, 255) * 255
            if cl:
                model = model.to(memory_format=torch.channels_last)
                z, x = (t.contiguous(memory_format=torch.channels_last) for t in (z, x))
            times = []
            for _ in range(a.steps + 1):
                t0 = time.perf_counter()
                out = model(z, x)
                sum(o.float().sum() for o in out if torch.is_tensor(o)).backward()
                times.append(time.perf_counter() - t0)
            med[cl] = statistics.median(times[1:])
        print(f"{label:<10} {med[False]:>12.2f}   {med[True]:>12.2f}   {med[False] / med[True]:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

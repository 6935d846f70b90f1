"""How far the network's predicted size follows the target when the tracker's size is wrong (issue 25).

On yamaha (val-lt) the boxes of large, growing targets were 15-40 % too small, and the network's own prediction was
the cause, not the smoothing: set the tracker's size to 0.85 x the true size, at the true centre, and the network
predicts ~0.90 x, a third of the way back. This measures that response on annotated frames: for frames of each
sequence (template from its first frame, as when tracking) the tracker's state is set to the true centre and
``factor`` x the true size, the crop / network / penalty / cosine window run as in ``update`` (``predict``), and the predicted
size at the chosen point is compared with the truth. A least-squares line over all of them,

    log(predicted / true) = a + rho * log(factor),

gives the response ``rho`` (0: the network finds the true size whatever the state; 1: it repeats the state) and
the bias ``a``. The size update that undoes the response in one step extrapolates the predicted change by
``g = 1 / (1 - rho)`` (the tracker's ``size_gain``).

    python benchmarks/size_response.py                    # the training objects of ../shared/data/train
    python benchmarks/size_response.py ../shared/data/val/otb-format --frames 8
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
TRAIN = ["uav", "tld", "davis", "more", "mot"]


def responses(tracker, seq, factors, n_frames: int):
    """(log factor, log predicted/true size) pairs of one sequence: ``n_frames`` evenly spaced annotated frames."""
    import cv2

    valid = np.where(np.isfinite(seq.boxes).all(1) & (seq.boxes[:, 2] > 1) & (seq.boxes[:, 3] > 1))[0]
    if len(valid) < 2 or valid[0] != 0:
        return []
    tracker.init(cv2.imread(seq.frames[0]), seq.boxes[0])
    picks = valid[1:][np.linspace(0, len(valid) - 2, min(n_frames, len(valid) - 1)).round().astype(int)]
    out = []
    for i in sorted(set(picks.tolist())):
        frame = cv2.imread(seq.frames[i])
        x, y, w, h = seq.boxes[i]
        for f in factors:
            tracker.center = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
            tracker.size = np.array([w * f, h * f])
            decoded, _, best, scale_z = tracker.predict(frame)
            pw, ph = decoded[3][best] / scale_z, decoded[4][best] / scale_z
            out.append((math.log(f), 0.5 * math.log(pw * ph / (w * h))))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="*", help="otb-format folders (default: the training objects in ../shared/data)")
    ap.add_argument("--model", default=None, help="model name or config (default: siamcan-nano)")
    ap.add_argument("--weights", default=None, help="weights file (default: the model's shipped weights)")
    ap.add_argument("--frames", type=int, default=10, help="annotated frames per sequence (default 10)")
    ap.add_argument("--factors", default="0.7,0.85,1,1.18,1.43", help="tracker size / true size, comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import siamcan
    from siamcan.datasets import read_dataset

    roots = [Path(d) for d in args.data] or [SHARED / "train" / n for n in TRAIN]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        print(f"size_response: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    factors = [float(v) for v in args.factors.split(",")]
    tracker = siamcan.Tracker.from_pretrained(args.model, args.weights, threads=args.threads)
    rows, per_root = [], {}
    t0 = time.perf_counter()
    for root in roots:
        ds = read_dataset("otb", root)
        got = [r for seq in ds for r in responses(tracker, seq, factors, args.frames)]
        per_root[root.name] = got
        rows += got
        print(f"{root.name}: {len(ds)} sequences, {len(got)} crops", file=sys.stderr)
    if not rows:
        print("size_response: no annotated frames", file=sys.stderr)
        return 2

    def fit(pairs):
        lf, lp = np.array(pairs).T
        rho, a = np.polyfit(lf, lp, 1)
        return rho, a

    print(f"\n{tracker.config.name}: size response over {len(rows)} crops ({time.perf_counter() - t0:.0f} s)\n")
    print("| data | crops | rho | bias a | g = 1/(1-rho) | " + " | ".join(f"pred/true at {f:g}x" for f in factors) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(factors))
    for name, pairs in list(per_root.items()) + [("all", rows)]:
        if not pairs:
            continue
        rho, a = fit(pairs)
        arr = np.array(pairs)
        means = [math.exp(arr[np.isclose(arr[:, 0], math.log(f)), 1].mean()) for f in factors]
        print(f"| {name} | {len(pairs)} | {rho:.3f} | {a:+.3f} | {1 / (1 - rho):.2f} | "
              + " | ".join(f"{m:.3f}" for m in means) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end tracking speed of siamcan-nano against NanoTrack, side by side in one process (issue 17).

Every tracker gets the same decoded frames (val sequences by default) and the same thread count (ONNX Runtime intra-op
threads, torch threads and OpenCV threads all set to ``--threads``). Each sequence is tracked by every tracker in
turn, the order rotating from one sequence to the next, so machine noise hits all of them alike: read the ratios.
(Frame by frame interleaving would be fairer to noise but measures something no user runs: with several threads,
each ONNX Runtime session's thread pool keeps spinning for a while after its run and steals the cores from the
next tracker's; measured here with 2 threads, that made every tracker 3-4x slower.) Time per frame =
``tracker.update(frame)``: search crop + network + post-processing, what a user's loop pays once a frame is decoded
(decoding is the same for every tracker and excluded). Warm-up frames of each sequence are not counted.

    python benchmarks/bench_vs_nanotrack.py                       # 1 thread, 6 val sequences x 100 frames
    python benchmarks/bench_vs_nanotrack.py --threads 2 --json benchmarks/results/speed-2t.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_SEQUENCES = ["Biker", "Car4", "Girl2", "Jogging-1", "vot-book", "Yacht2"]


def build(name: str, threads: int, model: str | None, weights: str | None = None):
    """(tracker, description) for a tracker name."""
    if name == "siamcan":
        from siamcan.zoo import Tracker

        tr = Tracker.from_pretrained(model, weights=weights)
        return tr, f"{tr.config.name} ({tr.engine.name} backend)"
    if name in ("nanotrack-v3", "nanotrack-v2"):
        from siamcan.tracking.nanotrack import nanotrack_tracker

        return nanotrack_tracker(name[-2:], threads=threads), f"NanoTrack {name[-2:]} (ONNX Runtime)"
    if name == "nanotrack-cv2":
        from siamcan.evaluation.runner import NanoTrack, default_nanotrack_dir

        return NanoTrack(default_nanotrack_dir()), "NanoTrack v2 (cv2.TrackerNano)"
    raise SystemExit(f"unknown tracker {name}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=None, help="OTB-layout folder (default ../shared/data/val/otb-format)")
    p.add_argument("--sequences", nargs="+", default=DEFAULT_SEQUENCES)
    p.add_argument("--frames", type=int, default=100, help="frames per sequence (default 100)")
    p.add_argument("--warmup", type=int, default=5, help="frames per sequence not timed (default 5)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", default=None, help="siamcan model (default: the package default)")
    p.add_argument("--weights", default=None, help="siamcan weights (default: the shipped ones)")
    p.add_argument("--trackers", nargs="+", default=["siamcan", "nanotrack-v3", "nanotrack-v2", "nanotrack-cv2"])
    p.add_argument("--json", default=None, help="write the results here too")
    a = p.parse_args(argv)

    import cv2
    import torch

    from siamcan.evaluation.datasets import load_dataset
    from siamcan.tracking.nanotrack import shared_data_dir

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    root = Path(a.dataset) if a.dataset else shared_data_dir() / "val" / "otb-format"
    ds = load_dataset(root, "otb").select(a.sequences)
    trackers = {n: build(n, a.threads, a.model, a.weights) for n in a.trackers}
    times: dict[str, list[float]] = {n: [] for n in trackers}
    frames_total = 0
    for k, seq in enumerate(ds):
        n = min(len(seq), a.frames + 1)
        frames = [seq.frame(i) for i in range(n)]
        box = seq.init_box(0)
        names = list(trackers)
        for name in names[k % len(names):] + names[:k % len(names)]:  # rotating order
            tr = trackers[name][0]
            tr.init(frames[0], box)
            for i, f in enumerate(frames[1:]):
                t0 = time.perf_counter()
                tr.update(f)
                if i >= a.warmup:
                    times[name].append(time.perf_counter() - t0)
        frames_total += n - 1
    ref = "nanotrack-v3" if "nanotrack-v3" in trackers else a.trackers[-1]
    rows = {}
    for name, (_, desc) in trackers.items():
        t = np.array(times[name]) * 1e3
        rows[name] = {"tracker": desc, "mean_ms": float(t.mean()), "median_ms": float(np.median(t)),
                      "fps_mean": float(1e3 / t.mean()), "fps_median": float(1e3 / np.median(t)),
                      "frames_timed": int(t.size)}
    for name, r in rows.items():
        r["speed_vs_" + ref] = rows[ref]["mean_ms"] / r["mean_ms"]
    print(f"{frames_total} frames of {len(ds)} sequences ({', '.join(s.name for s in ds)}), {a.threads} thread(s), "
          f"each sequence tracked by every tracker in turn; time = tracker.update (crop + network + post-processing)")
    print(f"{'tracker':<40} {'mean ms':>8} {'median ms':>10} {'frames/s':>9} {'vs ' + ref:>18}")
    for name, r in rows.items():
        print(f"{r['tracker']:<40} {r['mean_ms']:>8.2f} {r['median_ms']:>10.2f} {r['fps_mean']:>9.1f} "
              f"{r['speed_vs_' + ref]:>17.2f}x")
    if a.json:
        from siamcan.fileio import atomic_write_text

        atomic_write_text(a.json, json.dumps({"threads": a.threads, "frames": frames_total,
                                              "sequences": [s.name for s in ds], "trackers": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

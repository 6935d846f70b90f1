"""End-to-end tracking speed of siamcan-nano against NanoTrack, side by side in one process (issues 17, 25).

Every tracker gets the same frames (val sequences by default) and the same thread count (ONNX Runtime intra-op
threads, torch threads and OpenCV threads all set to ``--threads``, through ``siamcan.threads.set_threads`` as every
tracking command does). Each sequence is tracked by every tracker in turn, the order rotating from one sequence to the
next, so machine noise hits all of them alike: read the ratios. (Frame by frame interleaving would be fairer to noise
but measures something no user runs: with several threads, each ONNX Runtime session's thread pool keeps spinning for
a while after its run and steals the cores from the next tracker's; measured here with 2 threads, that made every
tracker 3-4x slower.) Two times per frame, as ``siamcan eval`` runs it: decoding the frame from its file
(``cv2.imread``) and ``tracker.update(frame)`` (search crop + network + post-processing). The tables give
``update`` alone (what a user's loop pays once a frame is decoded) and end to end (decode + update). Warm-up frames of
each sequence are not counted.

    python benchmarks/bench_vs_nanotrack.py                       # 1 thread, 6 val sequences x 100 frames
    python benchmarks/bench_vs_nanotrack.py --threads 2 --json benchmarks/results/speed-2t.json
    python benchmarks/bench_vs_nanotrack.py --dataset ../shared/data/dev/vot-format --format vot --sequences ball1
                                                                  # 1280x720 frames (decoding weighs more)
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
    p.add_argument("--dataset", default=None, help="dataset folder (default ../shared/data/val/otb-format)")
    p.add_argument("--format", default="otb", help="its layout (default otb)")
    p.add_argument("--sequences", nargs="+", default=None, help=f"default (val): {' '.join(DEFAULT_SEQUENCES)}")
    p.add_argument("--frames", type=int, default=100, help="frames per sequence (default 100)")
    p.add_argument("--warmup", type=int, default=5, help="frames per sequence not timed (default 5)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", default=None, help="siamcan model (default: the package default)")
    p.add_argument("--weights", default=None, help="siamcan weights (default: the shipped ones)")
    p.add_argument("--trackers", nargs="+", default=["siamcan", "nanotrack-v3", "nanotrack-v2", "nanotrack-cv2"])
    p.add_argument("--json", default=None, help="write the results here too")
    a = p.parse_args(argv)

    from siamcan.evaluation.datasets import load_dataset
    from siamcan.threads import set_threads
    from siamcan.tracking.nanotrack import shared_data_dir

    set_threads(a.threads)
    root = Path(a.dataset) if a.dataset else shared_data_dir() / "val" / "otb-format"
    ds = load_dataset(root, a.format).select(a.sequences or (None if a.dataset else DEFAULT_SEQUENCES))
    trackers = {n: build(n, a.threads, a.model, a.weights) for n in a.trackers}
    update: dict[str, list[float]] = {n: [] for n in trackers}
    decode: dict[str, list[float]] = {n: [] for n in trackers}
    frames_total, size = 0, None
    for k, seq in enumerate(ds):
        n = min(len(seq), a.frames + 1)
        box = seq.init_box(0)
        names = list(trackers)
        for name in names[k % len(names):] + names[:k % len(names)]:  # rotating order
            tr = trackers[name][0]
            first = seq.frame(0)
            size = first.shape[1::-1]
            tr.init(first, box)
            for i in range(1, n):
                t0 = time.perf_counter()
                f = seq.frame(i)
                t1 = time.perf_counter()
                tr.update(f)
                t2 = time.perf_counter()
                if i > a.warmup:
                    decode[name].append(t1 - t0)
                    update[name].append(t2 - t1)
        frames_total += n - 1
    ref = "nanotrack-v3" if "nanotrack-v3" in trackers else a.trackers[-1]
    rows = {}
    for name, (_, desc) in trackers.items():
        u, d = np.array(update[name]) * 1e3, np.array(decode[name]) * 1e3
        e = u + d
        rows[name] = {"tracker": desc, "mean_ms": float(u.mean()), "median_ms": float(np.median(u)),
                      "fps_mean": float(1e3 / u.mean()), "fps_median": float(1e3 / np.median(u)),
                      "decode_mean_ms": float(d.mean()), "end_to_end_mean_ms": float(e.mean()),
                      "end_to_end_fps": float(1e3 / e.mean()), "frames_timed": int(u.size)}
    for name, r in rows.items():
        r["speed_vs_" + ref] = rows[ref]["mean_ms"] / r["mean_ms"]
        r["end_to_end_vs_" + ref] = rows[ref]["end_to_end_mean_ms"] / r["end_to_end_mean_ms"]
    print(f"{frames_total} frames of {len(ds)} sequences ({', '.join(s.name for s in ds)}; last {size[0]}x{size[1]}), "
          f"{a.threads} thread(s), each sequence tracked by every tracker in turn")
    print(f"{'tracker':<40} {'update ms':>9} {'frames/s':>9} {'vs ' + ref:>17} | {'decode ms':>9} "
          f"{'end to end':>10} {'frames/s':>9} {'vs ' + ref:>17}")
    for name, r in rows.items():
        print(f"{r['tracker']:<40} {r['mean_ms']:>9.2f} {r['fps_mean']:>9.1f} {r['speed_vs_' + ref]:>16.2f}x | "
              f"{r['decode_mean_ms']:>9.2f} {r['end_to_end_mean_ms']:>10.2f} {r['end_to_end_fps']:>9.1f} "
              f"{r['end_to_end_vs_' + ref]:>16.2f}x")
    if a.json:
        from siamcan.fileio import atomic_write_text

        atomic_write_text(a.json, json.dumps({"threads": a.threads, "frames": frames_total, "frame_size": size,
                                              "sequences": [s.name for s in ds], "trackers": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

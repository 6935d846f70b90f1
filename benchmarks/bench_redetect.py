"""Cost of re-detection on frames where the target is never lost (issue 20): the default model with re-detection on
and off, fed the same decoded frames in turn (order alternating), same threads. Re-detection only runs while the
tracker considers the target lost; on the other frames both trackers do the same work (the confidence features are
computed either way), so the ratio should be 1 within noise. Prints the frames each tracker spent lost.

    python benchmarks/bench_redetect.py [--sequences Car4 Liquor ...] [--threads 1]

With ``--long DIR`` (an OTB-layout folder with one long sequence, e.g. val-lt unpacked: ``python
../shared/data/val-lt/unpack.py DIR``) it instead tracks that sequence with the default model and reports the cost
per frame while the target is lost (local crop + whole-frame search) next to the cost of the other frames, with the
search's tiles in one batched network call (what the tracker does) and, side by side on the same frames, one call
per tile.

    python benchmarks/bench_redetect.py --long ../runs/val-lt --redetect --threads 1
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

# val sequences the shipped model tracks without ever losing the target (checked by the lost counts printed)
DEFAULT_SEQUENCES = ["Car1", "Car4", "Liquor", "Sylvester", "Yacht2", "vot-car1"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=None, help="OTB-layout folder (default ../shared/data/val/otb-format)")
    p.add_argument("--sequences", nargs="+", default=DEFAULT_SEQUENCES)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--long", default=None, metavar="DIR", help="cost per frame while lost, on this long sequence")
    p.add_argument("--model", default=None, help="model name or config (default: the default model)")
    p.add_argument("--redetect", action="store_true", help="with --long: re-detection on (the model's settings)")
    p.add_argument("--backend", default="auto", help="with --long: auto (ONNX Runtime on the CPU), fast, eager, onnx")
    a = p.parse_args(argv)
    if a.long:
        return long_sequence(a)

    from siamcan.evaluation.datasets import load_dataset
    from siamcan.threads import set_threads
    from siamcan.tracking.nanotrack import shared_data_dir
    from siamcan.zoo import Tracker

    set_threads(a.threads)
    ds = load_dataset(Path(a.dataset) if a.dataset else shared_data_dir() / "val" / "otb-format", "otb")
    ds = ds.select(a.sequences)
    base = Tracker.from_pretrained(a.model, threads=a.threads)
    trackers = {flag: Tracker(base.engine, dataclasses.replace(base.cfg, redetect=flag)) for flag in (False, True)}
    times = {flag: [] for flag in trackers}
    lost = {flag: 0 for flag in trackers}
    for seq in ds:
        frames = [seq.frame(i) for i in range(len(seq))]
        for tr in trackers.values():
            tr.init(frames[0], seq.init_box(0))
        for i, f in enumerate(frames[1:]):
            for flag in ((False, True) if i % 2 == 0 else (True, False)):
                t0 = time.perf_counter()
                trackers[flag].update(f)
                if i >= a.warmup:
                    times[flag].append(time.perf_counter() - t0)
                lost[flag] += trackers[flag].lost
    off, on = (np.mean(times[f]) * 1e3 for f in (False, True))
    print(f"{len(times[False])} frames of {len(ds)} sequences, {a.threads} thread(s); frames spent lost: "
          f"re-detection off {lost[False]}, on {lost[True]}")
    print(f"re-detection off: {off:.2f} ms/frame ({1e3 / off:.1f} frames/s); on: {on:.2f} ms/frame "
          f"({1e3 / on:.1f} frames/s); on/off speed {off / on:.3f}")
    return 0


class OneByOne:
    """The engine without ``track_batch``: re-detection then scores its tiles one network call each (as before
    issue 25's item 3), for the side-by-side comparison."""

    def __init__(self, engine):
        self.engine = engine

    def template(self, crop):
        return self.engine.template(crop)

    def track(self, crop, state):
        return self.engine.track(crop, state)


def long_sequence(a) -> int:
    from siamcan.evaluation.datasets import load_dataset
    from siamcan.threads import set_threads
    from siamcan.tracking.redetect import batch_sizes
    from siamcan.zoo import Tracker

    set_threads(a.threads)
    seq = next(iter(load_dataset(Path(a.long), "otb")))
    base = Tracker.from_pretrained(a.model, threads=a.threads, backend=a.backend)
    if a.redetect:
        base = Tracker(base.engine, dataclasses.replace(base.cfg, redetect=True))
    if not base.cfg.redetect:
        print("note: re-detection is off in this config; lost frames run the local crop only")
    # the same frames, in turn (order alternating), to the tracker whose tiles go through the network in one call
    # and to one that runs them one call each
    modes = {"one call": base, "one call per tile": Tracker(OneByOne(base.engine), base.cfg)}
    times = {m: {True: [], False: []} for m in modes}
    runs = {m: 0 for m in modes}
    searched = {m: 0 for m in modes}  # lost frames whose whole frame was searched
    whole = {m: 0 for m in modes}  # ... with as many crops as a batch size set up at init (one call in "one call")
    for tr in modes.values():
        tr.init(seq.frame(0), seq.init_box(0))
    for i in range(1, len(seq)):
        f = seq.frame(i)
        for m in (list(modes) if i % 2 else list(modes)[::-1]):
            tr = modes[m]
            searching = tr.lost
            before, tiles_before = tr.search.tiles + tr.search.verified, tr.search.tiles
            t0 = time.perf_counter()
            tr.update(f)
            times[m][searching].append(time.perf_counter() - t0)
            if searching:
                scored = tr.search.tiles + tr.search.verified - before
                runs[m] += scored
                if tr.search.tiles > tiles_before:  # the whole frame was searched: one call if its size is prepared
                    searched[m] += 1
                    whole[m] += (tr.search.tiles - tiles_before) in batch_sizes(tr.cfg)
    print(f"{seq.name}: {len(seq) - 1} frames, {a.threads} thread(s), {type(base.engine).__name__}")
    lost_ms = {}
    for m in modes:
        t = times[m]
        lost, kept = (np.mean(t[k]) * 1e3 if t[k] else float("nan") for k in (True, False))
        lost_ms[m] = lost
        print(f"  tiles scored in {m}: target lost on {len(t[True])} frames; lost (local crop + whole-frame search, "
              f"{runs[m] / max(len(t[True]), 1):.1f} crops scored a frame besides the local one): {lost:.2f} ms/frame; "
              f"not lost: {kept:.2f} ms/frame ({lost / kept:.1f}x)")
    print(f"  whole frame searched on {searched['one call']} lost frames; {whole['one call']} of them had a batch size "
          f"set up at init {sorted(batch_sizes(base.cfg))} and ran as one network call, the others one call per crop")
    a_, b_ = lost_ms.values()
    print(f"  lost frames, one call per tile / one call: {b_ / a_:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Several targets: MultiTracker (one batched network call per frame) against N single trackers one after the other
(issue 23), side by side in one process.

Both get the same frames, the same targets, the same engine (one engine shared by the N single trackers, the
cheapest way to run N of them today: one model, one ONNX Runtime session) and the same thread count (torch, ONNX
Runtime and OpenCV threads all ``--threads``). Time per frame = decoding the frame (``cv2.imread`` of its JPEG) +
tracking every target in it: ``multi.update(frame)`` or ``t.update(frame)`` for each single tracker. Frames: the 8
frames of MOT17-04 in ``../shared/data/train/mot`` played forth and back (``--frames`` of them), targets the first
boxes of its first ``N`` annotated pedestrians. The two modes alternate, the order rotating, ``--repeats`` times;
the table gives the median over repeats of the mean time per frame, wall-clock and CPU (this process); read the
ratios (machine noise hits both alike; the load average is printed with the table: the 2 cores are shared).

    python benchmarks/bench_multi.py                          # 1, 2, 4, 8, 16 targets; 1 and 2 threads
    python benchmarks/bench_multi.py --threads 1 --targets 8 --json benchmarks/results/multi.json
    python benchmarks/bench_multi.py --profile --threads 1 --targets 8   # ONNX Runtime's time by op type
    python benchmarks/bench_multi.py --network-only --targets 8          # the network call alone: batch N vs N calls

``--network-only`` times the engine alone on the real crops of the targets (no decoding, cropping or
post-processing): one ``track_batch`` of N crops against N ``track`` calls of one crop, alternating. It bounds what
batching can give: the network is most of a frame, and what batching saves of the rest is at most all of it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def mot_clip(root: Path, n_targets: int) -> tuple[list[Path], list[list[float]]]:
    """The frame files of MOT17-04 and the first boxes of its first ``n_targets`` ids."""
    dirs = sorted(root.glob("MOT17-04-FRCNN_id*"))
    if len(dirs) < n_targets:
        raise SystemExit(f"{root}: {len(dirs)} MOT17-04 ids, {n_targets} asked")
    files = sorted((dirs[0] / "img").glob("*.jpg"))
    boxes = []
    for d in dirs[:n_targets]:
        first = (d / "groundtruth.txt").read_text().split()[0]
        boxes.append([float(v) for v in first.split(",")])
    return files, boxes


def run(mode: str, engine, cfg, files: list[Path], order: list[int], boxes, warmup: int) -> tuple[float, float]:
    """Mean wall-clock and CPU ms per frame (decode + tracking every target) over ``order`` (frame indices), warm-up
    excluded. The CPU time (this process, all its threads) is the steadier one while other jobs share the cores."""
    import cv2

    from siamcan.tracking.multi import MultiTracker
    from siamcan.tracking.tracker import SiamCANTracker

    first = cv2.imread(str(files[order[0]]))
    if mode == "batched":
        mt = MultiTracker(engine, cfg)
        mt.init(first, boxes)
        step = mt.update
    else:
        singles = [SiamCANTracker(engine, cfg) for _ in boxes]
        for t, b in zip(singles, boxes):
            t.init(first, b)

        def step(frame):
            return [t.update(frame) for t in singles]
    wall, cpu = [], []
    for k, i in enumerate(order[1:]):
        t0, c0 = time.perf_counter(), time.process_time()
        step(cv2.imread(str(files[i])))
        if k >= warmup:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return 1e3 * float(np.mean(wall)), 1e3 * float(np.mean(cpu))


def network_only(engine, cfg, files, boxes, repeats: int, calls: int = 30) -> tuple[float, float]:
    """Median ms of one batched network call of ``len(boxes)`` real search crops and of the same crops in one call
    each (``calls`` timed calls per repeat, the two modes alternating)."""
    import cv2

    from siamcan.tracking.tracker import SiamCANTracker

    first, second = cv2.imread(str(files[0])), cv2.imread(str(files[1]))
    singles = [SiamCANTracker(engine, cfg) for _ in boxes]
    for t, b in zip(singles, boxes):
        t.init(first, b)
    crops = [t.search_crop(second)[0] for t in singles]
    states = [t.state for t in singles]
    stacked = engine.stack_states(states)
    batch = np.stack(crops)

    def batched():
        engine.track_batch(batch, stacked)

    def one_by_one():
        for c, st in zip(crops, states):
            engine.track(c, st)

    res = {batched: [], one_by_one: []}
    for r in range(repeats):
        for fn in ((batched, one_by_one) if r % 2 == 0 else (one_by_one, batched)):
            for _ in range(3):
                fn()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            res[fn].append(1e3 * (time.perf_counter() - t0) / calls)
    return statistics.median(res[batched]), statistics.median(res[one_by_one])


def ort_profile(model, cfg, batches, threads: int, runs: int = 30) -> None:
    """Where ONNX Runtime's time goes in the track graph for each batch size: ms per run by op type (its profiler,
    on random inputs, ``threads`` intra-op threads)."""
    import collections
    import tempfile

    import onnxruntime as ort

    from siamcan.tracking.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        for n in batches:
            _, graphs = export_onnx(model, cfg, check=False, batch=n)
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.enable_profiling = True
            so.profile_file_prefix = f"{tmp}/prof{n}"
            sess = ort.InferenceSession(graphs["track.onnx"], so, providers=["CPUExecutionProvider"])
            rng = np.random.default_rng(0)
            feed = {i.name: (rng.random(i.shape) * (255 if k == 0 else 0.1)).astype(np.float32)
                    for k, i in enumerate(sess.get_inputs())}
            for _ in range(runs):
                sess.run(None, feed)
            by_op: collections.Counter = collections.Counter()
            for e in json.loads(Path(sess.end_profiling()).read_text()):
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                    by_op[e["args"]["op_name"]] += e["dur"] / runs / 1e3
            total = sum(by_op.values())
            top = ", ".join(f"{k} {v:.2f}" for k, v in by_op.most_common(5))
            print(f"ONNX Runtime track graph, {n} target(s), {threads} thread(s): {total:.2f} ms of kernels per run "
                  f"({total / n:.2f} per target); by op type: {top}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="train/mot folder (default ../shared/data/train/mot)")
    p.add_argument("--targets", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--frames", type=int, default=40, help="frames tracked per run (default 40)")
    p.add_argument("--warmup", type=int, default=3, help="frames per run not timed (default 3)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--backend", default="auto", help="auto (ONNX Runtime on the CPU), fast, eager, onnx")
    p.add_argument("--model", default=None)
    p.add_argument("--json", default=None, help="write the results here too")
    p.add_argument("--profile", action="store_true",
                   help="only print where ONNX Runtime's time goes (by op type) for 1 and the largest --targets")
    p.add_argument("--network-only", action="store_true",
                   help="only time the network call: one batch of N crops against N calls of one crop")
    a = p.parse_args(argv)

    import cv2
    import torch

    from siamcan.tracking.nanotrack import shared_data_dir
    from siamcan.zoo import load_model, make_engine

    root = Path(a.data) if a.data else shared_data_dir() / "train" / "mot"
    files, all_boxes = mot_clip(root, max(a.targets))
    cycle = list(range(len(files))) + list(range(len(files) - 2, 0, -1))  # forth and back: 0..7..1
    order = [cycle[k % len(cycle)] for k in range(a.frames + 1)]
    model, cfg = load_model(a.model)
    if a.profile:
        ort_profile(model, cfg, sorted({1, max(a.targets)}), a.threads[0])
        return 0
    if a.network_only:
        print("| threads | targets | one call of N crops, ms | N calls of one crop, ms | speed-up |")
        print("|---:|---:|---:|---:|---:|")
        for threads in a.threads:
            torch.set_num_threads(threads)
            engine = make_engine(model, "cpu", a.backend, cfg=cfg, threads=threads)
            for n in a.targets:
                if hasattr(engine, "prepare_batch"):
                    engine.prepare_batch(n)
                b, s = network_only(engine, cfg.tracker, files, all_boxes[:n], a.repeats)
                print(f"| {threads} | {n} | {b:.2f} | {s:.2f} | {s / b:.2f}x |", flush=True)
        print(f"\n{cfg.name}, {getattr(engine, 'name', a.backend)} backend, network calls only (median of "
              f"{a.repeats} runs of 30 calls); 1-min load average {os.getloadavg()[0]:.2f} (cpus: {os.cpu_count()})")
        return 0
    decode = []
    for f in files * 5:
        t0 = time.perf_counter()
        cv2.imread(str(f))
        decode.append(time.perf_counter() - t0)
    h, w = cv2.imread(str(files[0])).shape[:2]
    load = [os.getloadavg()[0]]
    rows = []
    for threads in a.threads:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        engine = make_engine(model, "cpu", a.backend, cfg=cfg, threads=threads)
        for n in a.targets:
            boxes = all_boxes[:n]
            if hasattr(engine, "prepare_batch"):
                engine.prepare_batch(n)  # the ONNX graph for n targets, exported once
            res = {"batched": [], "single": []}
            for r in range(a.repeats):
                for mode in (("batched", "single") if r % 2 == 0 else ("single", "batched")):
                    res[mode].append(run(mode, engine, cfg.tracker, files, order, boxes, a.warmup))
            b, s = (statistics.median(w for w, _ in res[m]) for m in ("batched", "single"))
            bc, sc = (statistics.median(c for _, c in res[m]) for m in ("batched", "single"))
            rows.append({"threads": threads, "targets": n, "batched_ms": b, "single_ms": s, "speedup": s / b,
                         "batched_fps": 1e3 / b, "single_fps": 1e3 / s, "batched_cpu_ms": bc, "single_cpu_ms": sc,
                         "speedup_cpu": sc / bc, "runs_batched_ms": res["batched"], "runs_single_ms": res["single"]})
            r = rows[-1]
            print(f"threads {threads} targets {n:>2}: batched {b:7.2f} ms ({r['batched_fps']:5.1f} fps, cpu {bc:6.2f})"
                  f"  singles {s:7.2f} ms ({r['single_fps']:5.1f} fps, cpu {sc:6.2f})  x{r['speedup']:.2f} "
                  f"(cpu x{r['speedup_cpu']:.2f})", flush=True)
            load.append(os.getloadavg()[0])
    eng_name = getattr(engine, "name", a.backend)
    print(f"\n{cfg.name}, {eng_name} backend; {len(files)} MOT17-04 frames ({w}x{h}) forth and back, {a.frames} "
          f"tracked per run ({a.warmup} not timed), median of {a.repeats} runs; time per frame = decode "
          f"({1e3 * np.median(decode):.2f} ms median) + every target; 1-min load average {min(load):.2f}-"
          f"{max(load):.2f} (cpus: {os.cpu_count()})\n")
    print("| threads | targets | MultiTracker ms/frame (frames/s) | N single trackers ms/frame (frames/s) | "
          "speed-up | CPU ms/frame: MultiTracker / singles | speed-up in CPU time |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['threads']} | {r['targets']} | {r['batched_ms']:.1f} ({r['batched_fps']:.1f}) | "
              f"{r['single_ms']:.1f} ({r['single_fps']:.1f}) | {r['speedup']:.2f}x | {r['batched_cpu_ms']:.1f} / "
              f"{r['single_cpu_ms']:.1f} | {r['speedup_cpu']:.2f}x |")
    if a.json:
        from siamcan.fileio import atomic_write_text

        atomic_write_text(a.json, json.dumps({"model": cfg.name, "backend": eng_name, "frames": a.frames,
                                              "frame_size": [w, h], "decode_ms": 1e3 * float(np.median(decode)),
                                              "load_average": load, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

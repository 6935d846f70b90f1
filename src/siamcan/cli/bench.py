"""``siamcan bench``: per-frame tracking latency of the fast path vs the plain eager path, side by side.

Both trackers run in the same process on the same decoded frames, interleaved frame by frame (the order
alternates), so machine noise hits both alike; the ratio is what to read. Latency = ``tracker.update(frame)``:
search crop + network + post-processing (frame decoding excluded). Warm-up frames are not counted.

Models without trained weights: ``siamcan-lite`` uses its ImageNet backbone with untrained heads;
``siamcan-r50`` without ``--weights``/``backbone_weights`` uses seeded random weights (``seeded_model``) whose
BatchNorm statistics are calibrated so activations stay finite - the same arithmetic as a trained model.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import SiamcanError


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help=f"model name or config .yaml (default: the package default, {DEFAULT_MODEL})")
    p.add_argument("--weights", default=None, help="model weights (default: shipped weights, else see below)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights used when a model has no "
                   "trained or backbone weights (default 0)")
    p.add_argument("--random-weights", action="store_true", help="always use seeded random weights")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--sequence", default=None, help="image folder (OTB layout ok); default: a dev sequence from "
                   "../shared/data/dev/otb-format, else a generated clip")
    p.add_argument("--frames", type=int, default=100, help="frames to track, after the first (default 100)")
    p.add_argument("--warmup", type=int, default=5, help="frames not counted at the start (default 5)")
    p.add_argument("--backends", default="fast,eager",
                   help="comma list of fast, eager, onnx, and on CUDA fast-nograph, fast-tf32, fast-half "
                   "(default fast,eager)")
    p.add_argument("--onnx-dir", default=None, help="folder of template.onnx/track.onnx for the onnx backend")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: physical cores); use 1 "
                   "when other processes keep the cores busy: 2 OpenMP threads sharing a busy core stall at every op")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")


# ------------------------------------------------------------------------------------------- model
def load_bench_model(args):
    from ..zoo import seeded_model
    from ..zoo import load_model, packaged_weights, resolve_config

    cfg = resolve_config(args.model)
    if args.weights:
        model, cfg = load_model(cfg, args.weights)
        return model, cfg, str(args.weights)
    if args.random_weights or (packaged_weights(cfg) is None and cfg.model.backbone == "resnet50"
                               and not cfg.model.backbone_weights):
        model, cfg = seeded_model(cfg, args.seed)
        return model, cfg, f"seeded random (seed {args.seed})"
    model, cfg = load_model(cfg)
    return model, cfg, "shipped" if packaged_weights(cfg) else "ImageNet backbone, untrained heads"


# ------------------------------------------------------------------------------------------- measurement
def peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# opt-in GPU variants of the fast path, measured next to it: they change the boxes (the table shows by how much)
CUDA_ONLY = {"fast-nograph": {"cuda_graph": False}, "fast-tf32": {"tf32": True}, "fast-half": {"half": True}}


def make_backend(name: str, model, cfg, device: str, onnx_dir):
    from ..zoo import make_engine

    if name in CUDA_ONLY:
        if not str(device).startswith("cuda"):
            raise SiamcanError(f"the {name} backend needs --device cuda")
        from ..tracking.fast import FastEngine

        return FastEngine(model, device, **CUDA_ONLY[name])
    return make_engine(model, device, name, onnx_dir, cfg=cfg)


def bench(model, cfg, frames, box, backends=("fast", "eager"), device="cpu", warmup=5, onnx_dir=None) -> dict:
    import torch

    from ..tracking.tracker import SiamCANTracker

    tcfg = cfg.tracker_for(None)
    cuda = str(device).startswith("cuda")
    res: dict = {}
    trackers = {}
    for name in backends:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        engine = make_backend(name, model, cfg, device, onnx_dir)
        t1 = time.perf_counter()
        tr = SiamCANTracker(engine, tcfg)
        tr.init(frames[0], box)
        if cuda:
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        trackers[name] = tr
        res[name] = {"setup_ms": (t1 - t0) * 1e3, "init_ms": (t2 - t1) * 1e3, "times": [], "boxes": [list(box)]}
    for i, frame in enumerate(frames[1:]):
        order = list(backends) if i % 2 == 0 else list(reversed(backends))
        for name in order:
            t0 = time.perf_counter()
            b, _ = trackers[name].update(frame)
            if cuda:
                torch.cuda.synchronize()
            res[name]["times"].append(time.perf_counter() - t0)
            res[name]["boxes"].append(b)
    out = {"threads": torch.get_num_threads(), "backends": {}}
    for name in backends:
        t = np.array(res[name]["times"][warmup:]) * 1e3
        if t.size == 0:
            raise SiamcanError(f"not enough frames: {len(frames) - 1} tracked, {warmup} warm-up")
        med = float(np.median(t))
        out["backends"][name] = {
            "median_ms": med, "p10_ms": float(np.percentile(t, 10)), "p90_ms": float(np.percentile(t, 90)),
            "mean_ms": float(t.mean()), "fps": 1e3 / med, "setup_ms": res[name]["setup_ms"],
            "init_ms": res[name]["init_ms"], "frames_timed": int(t.size)}
    ref = "eager" if "eager" in backends else backends[-1]
    rb = np.array(res[ref]["boxes"])
    for name in backends:
        if name != ref:
            o = out["backends"][name]
            o["speedup_vs_" + ref] = out["backends"][ref]["median_ms"] / o["median_ms"]
            o["max_box_diff_px_vs_" + ref] = float(np.abs(np.array(res[name]["boxes"]) - rb).max())
    out["peak_rss_mb"] = peak_rss_mb()
    if cuda:
        out["cuda_max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    out["box_spread_px"] = float(np.ptp(rb[:, :2], axis=0).max())  # did the boxes actually move?
    return out


def format_table(r: dict) -> str:
    lines = [f"model {r['model']} ({r['weights']}), device {r['device']}, {r['threads']} threads, "
             f"{r['frames']} frames of {r['sequence']} ({r['warmup']} warm-up not timed)",
             f"{'backend':<12} {'median ms':>10} {'p10':>8} {'p90':>8} {'FPS':>7} {'setup ms':>9} {'init ms':>8} "
             f"{'speed-up':>9} {'max box diff px':>16}"]
    for name, b in r["backends"].items():
        sp = next((v for k, v in b.items() if k.startswith("speedup_vs_")), None)
        bd = next((v for k, v in b.items() if k.startswith("max_box_diff_px_vs_")), None)
        lines.append(f"{name:<12} {b['median_ms']:>10.2f} {b['p10_ms']:>8.2f} {b['p90_ms']:>8.2f} {b['fps']:>7.1f} "
                     f"{b['setup_ms']:>9.0f} {b['init_ms']:>8.1f} {(f'{sp:.2f}x' if sp else '-'):>9} "
                     f"{(f'{bd:.2e}' if bd is not None else '-'):>16}")
    mem = f"peak RSS {r['peak_rss_mb']:.0f} MB (process, all backends)" if r.get("peak_rss_mb") else ""
    if "cuda_max_memory_allocated_mb" in r:
        mem += f"; CUDA max allocated {r['cuda_max_memory_allocated_mb']:.0f} MB"
    lines.append(mem + f"; box centre spread {r['box_spread_px']:.0f} px")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..tracking.engine import pick_device

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    known = ("fast", "eager", "onnx", *CUDA_ONLY)
    bad = [b for b in backends if b not in known]
    if bad or not backends:
        raise SiamcanError(f"unknown backend(s) {bad} ({', '.join(known)})")
    if args.frames < 2:
        raise SiamcanError("--frames must be at least 2")
    if not 0 <= args.warmup < args.frames:  # at least one timed frame
        raise SiamcanError(f"--warmup must be between 0 and --frames - 1 ({args.frames - 1}), got {args.warmup}")
    device = str(pick_device(args.device))
    if args.threads is not None:
        import torch

        from ..threads import check_threads

        args.threads = check_threads(args.threads)
        torch.set_num_threads(args.threads)
    model, cfg, wdesc = load_bench_model(args)
    from ..tracking.clips import load_frames

    frames, box, seq = load_frames(args.sequence, args.frames + 1)
    r = bench(model, cfg, frames, box, backends, device, min(args.warmup, len(frames) - 2), args.onnx_dir)
    r = {"model": cfg.name, "weights": wdesc, "device": device, "sequence": seq, "frames": len(frames) - 1,
         "warmup": args.warmup, **r}
    print(format_table(r))
    if args.json:
        from ..fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(r, indent=2) + "\n")
    return 0

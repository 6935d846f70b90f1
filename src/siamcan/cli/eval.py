"""``siamcan eval DATASET --format FMT``: run a tracker on every sequence of a benchmark and write pysot-layout
result files (one-pass, or the VOT supervised protocol for VOT data); resumable, parallel over sequences."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import DEFAULT_MODEL, MAIN_MODELS
from ..errors import SiamcanError


def add_parser(p: argparse.ArgumentParser) -> None:
    from ..evaluation.datasets import FORMATS

    p.add_argument("dataset", help="dataset folder (or the annotation .json for --format json)")
    p.add_argument("--format", required=True, choices=FORMATS, help="dataset layout")
    p.add_argument("--root", default=None, help="image root for --format json when the JSON is not inside it")
    p.add_argument("--tracker", default="siamcan", choices=("siamcan", "nanotrack-v3", "nanotrack-v2", "nanotrack-cv2",
                                                            "nanotrack"),
                   help="tracker to run: siamcan (--model), NanoTrack v3 / v2 (its released networks in ONNX Runtime "
                        "with its own tracker values), nanotrack-cv2 (OpenCV's cv2.TrackerNano, NanoTrack v2; "
                        "'nanotrack' is an old name of it)")
    p.add_argument("--model", default=None,
                   help=f"siamcan model name ({', '.join(MAIN_MODELS)}, ...) or config .yaml "
                        f"(default: {DEFAULT_MODEL})")
    p.add_argument("--weights", default=None, help="siamcan model weights (.safetensors or .pth)")
    p.add_argument("--benchmark", default=None,
                   help="hyper-parameter set of the model config (e.g. VOT2018, OTB100); default: none")
    p.add_argument("--nanotrack-dir", default=None,
                   help="folder of NanoTrack's backbone + head ONNX files (default "
                        "$SIAMCAN_SHARED_DATA or ../shared/data, baselines/nanotrack/nanotrackv3 or nanotrackv2)")
    p.add_argument("--name", default=None, help="tracker name in the results folder (default: model name)")
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--sequences", nargs="+", default=None, metavar="NAME", help="only these sequences")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (one torch thread each)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (siamcan only; default: cuda if available)")
    redetect = p.add_mutually_exclusive_group()
    redetect.add_argument("--redetect", dest="redetect", action="store_const", const=True, default=None,
                          help="siamcan: search the whole frame for a lost target (default: as the model's config "
                               "says; siamcan-nano: off)")
    redetect.add_argument("--no-redetect", dest="redetect", action="store_const", const=False,
                          help="siamcan: never search beyond the local crop")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads per process (default: physical cores - 1, at least 1; with --workers: 1)")


def default_name(args: argparse.Namespace) -> str:
    if args.name:
        return args.name
    if args.tracker.startswith("nanotrack"):
        return {"nanotrack-v3": "NanoTrackV3", "nanotrack-v2": "NanoTrackV2"}.get(args.tracker, "NanoTrackV2-cv2")
    if args.model:
        return Path(args.model).stem if str(args.model).endswith((".yaml", ".yml")) else str(args.model)
    return DEFAULT_MODEL


def run(args: argparse.Namespace) -> int:
    from ..evaluation.datasets import load_dataset
    from ..evaluation.runner import TrackerSpec, build_tracker, evaluate

    from ..fileio import check_name
    from ..threads import check_threads, set_threads

    if args.workers < 1:
        raise SiamcanError(f"--workers must be >= 1, got {args.workers}")
    args.threads = check_threads(args.threads)
    name = check_name(default_name(args), "--name" if args.name else "tracker name (from --model; set --name)")
    if args.device and args.tracker == "siamcan":
        from ..tracking.engine import pick_device

        pick_device(args.device)  # an unknown device is a one-line error before anything is loaded
    if args.benchmark and args.tracker == "siamcan":
        from ..zoo import resolve_config

        resolve_config(args.model).benchmark_key(args.benchmark)  # an unknown name lists the known ones
    dataset = load_dataset(args.dataset, args.format, args.root).select(args.sequences)
    spec = TrackerSpec(kind=args.tracker, model=args.model, weights=args.weights, device=args.device,
                       benchmark=args.benchmark, nanotrack_dir=args.nanotrack_dir,
                       redetect=args.redetect)
    threads = args.threads if args.workers > 1 else set_threads(args.threads)
    if args.workers > 1:
        build_tracker(spec)  # fail fast (bad model / weights / ONNX path) before starting the pool
    summary = evaluate(dataset, spec, name, Path(args.results), workers=args.workers, threads=threads)
    protocol = "VOT supervised (baseline)" if dataset.supervised else "one-pass"
    if not summary.sequences:
        print(f"{name} on {dataset.name} ({protocol}): nothing to run, all {summary.skipped} sequence(s) already "
              f"have results (delete a result file to run it again); results: {summary.output}")
        return 0
    print(f"{name} on {dataset.name} ({protocol}): {summary.sequences} sequence(s) run, "
          f"{summary.skipped} already done; {summary.frames} frames at {summary.fps:.1f} frames/s per process "
          f"({summary.wall_fps:.1f} frames/s overall); results: {summary.output}")
    return 0

"""``siamcan tune DATASET --format FMT``: search window influence, penalty k and lr for a model on a dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import DEFAULT_MODEL


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", nargs="+",
                   help="dataset folder(s) (or pysot JSON file with --format json); several folders of one format "
                        "are searched together")
    p.add_argument("--format", default="otb", help="otb, uav123, lasot, got10k, vot, json (default: otb)")
    p.add_argument("--root", default=None, help="image root for --format json")
    p.add_argument("--model", default=None, help=f"model name or config .yaml (default: {DEFAULT_MODEL})")
    p.add_argument("--weights", default=None, help="model weights (default: the weights shipped for the model)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads (default: physical cores - 1, at least 1)")
    p.add_argument("--trials", type=int, default=40, help="number of trials (default: 40)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default: 0)")
    p.add_argument("--sequences", nargs="+", default=None,
                   help="only these sequences (names from any of the dataset folders)")
    p.add_argument("--max-frames", type=int, default=None,
                   help="use at most N frames of each sequence (N >= 2; default: all)")
    p.add_argument("--vot-year", default="VOT2018", help="EAO interval for VOT datasets (default: VOT2018)")
    p.add_argument("--benchmark", default=None,
                   help="start from the config's benchmarks.<KEY> values and write the result there instead of the "
                        "default tracker section (a new KEY needs --write-config)")
    p.add_argument("--write-config", default=None, metavar="OUT.yaml",
                   help="write the model's config with the tuned values to this file")
    p.add_argument("--range", nargs="+", default=[], metavar="KEY=LOW:HIGH", dest="ranges",
                   help="widen/narrow a search range, e.g. penalty_k=0:1.2 (default: SiamBAN's window_influence "
                        "0.05:0.65, penalty_k 0:0.6, lr 0.1:0.8, each widened to hold the config's own value)")
    p.add_argument("--log", default=None, metavar="TRIALS.csv", help="write every trial to a CSV file")
    p.add_argument("--workers", type=int, default=1,
                   help="processes that track a trial's sequences in parallel (one thread each; each holds the "
                        "frames it decoded). The same trials as one process, about N times faster on N free cores")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import yaml

    from ..config import config_to_dict
    from ..errors import SiamcanError
    from ..evaluation.datasets import combine, load_dataset
    from ..fileio import atomic_write_text
    from ..progress import progress_bar
    from ..threads import check_threads, set_threads
    from ..tuning import ParallelScorer, TuneInterrupted, include_start, search_space, tune
    from ..zoo import load_model, make_engine, resolve_config

    if args.trials < 1:
        raise SiamcanError("--trials must be at least 1")
    if not 1 <= args.workers <= 256:
        raise SiamcanError(f"--workers must be between 1 and 256, got {args.workers}")
    if args.max_frames is not None and args.max_frames < 2:
        raise SiamcanError(f"--max-frames must be at least 2 (the init frame and one tracked), got {args.max_frames}")
    args.threads = check_threads(args.threads)
    space = {}
    for item in args.ranges:
        try:
            key, bounds = item.split("=", 1)
            lo, hi = (float(v) for v in bounds.split(":"))
        except ValueError:
            raise SiamcanError(f"--range {item!r}: expected KEY=LOW:HIGH, e.g. penalty_k=0:1.2") from None
        space[key] = (lo, hi)
    space = search_space(space)  # bad keys stop here, before frames and the model are loaded
    if args.device:
        from ..tracking.engine import pick_device

        pick_device(args.device)
    if args.benchmark:
        known = {k.lower() for k in resolve_config(args.model).benchmarks}
        if args.benchmark.lower() in known or not args.write_config:
            resolve_config(args.model).benchmark_key(args.benchmark)  # unknown without --write-config: an error
        else:
            print(f"benchmarks.{args.benchmark} is new: starting from the config's tracker values")
    dataset = combine([load_dataset(d, args.format, args.root) for d in args.dataset]).select(args.sequences)
    set_threads(args.threads)
    model, cfg = load_model(args.model, args.weights)
    scorer = None
    if args.workers > 1:
        if args.device and args.device != "cpu":
            raise SiamcanError("--workers is for the CPU: tune on a GPU with one process")
        engine = None
        scorer = ParallelScorer(args.model, args.weights, dataset, args.workers, args.max_frames)
    else:
        engine = make_engine(model, args.device, cfg=cfg)
    base = cfg.tracker_for(args.benchmark)
    space, widened = include_start(space, base)
    for k in widened:
        print(f"search range {k} widened to {space[k][0]:g}:{space[k][1]:g} to hold the config's value (the first "
              "trial)")
    bar = progress_bar(total=args.trials, desc="tune", unit="trial")
    best = [float("-inf")]

    def on_trial(i: int, params: dict, value: float) -> None:
        best[0] = max(best[0], value)
        bar.update(1)
        bar.set_postfix(last=f"{value:.4f}", best=f"{best[0]:.4f}")

    metric = "EAO" if dataset.supervised else "success AUC"
    try:
        params, value, history = tune(engine, base, dataset, args.trials, args.seed, args.max_frames,
                                      args.vot_year, on_trial, space, scorer)
    except TuneInterrupted as stop:
        bar.close()
        _interrupted_summary(stop.history, args, metric, dataset)
        raise
    finally:
        bar.close()
        if scorer is not None:
            scorer.close()
    first = history[0]["objective"]
    print(f"{metric} on {dataset.name} ({len(dataset)} sequences): {first:.4f} with the config's values -> "
          f"{value:.4f} with " + ", ".join(f"{k}={v:.4f}" for k, v in params.items()))
    if args.log:
        _write_log(args.log, history)
    if args.write_config:
        data = config_to_dict(cfg)
        rounded = {k: round(v, 4) for k, v in params.items()}
        if args.benchmark:
            data.setdefault("benchmarks", {})[args.benchmark] = rounded
        else:
            data["tracker"] = config_to_dict(dataclasses.replace(cfg.tracker, **rounded))
        atomic_write_text(args.write_config, yaml.safe_dump(data, sort_keys=False))
        print(f"config with the tuned values: {Path(args.write_config)}")
    return 0


def _write_log(path: str, history: list[dict]) -> None:
    from ..fileio import atomic_write_text

    keys = list(history[0])
    atomic_write_text(path, ",".join(keys) + "\n" + "".join(",".join(f"{h[k]}" for k in keys) + "\n" for h in history))


def _interrupted_summary(history: list[dict], args: argparse.Namespace, metric: str, dataset) -> None:
    """What an interrupted search found: the finished trials, the best of them, and the --log of them."""
    import sys

    if not history:
        print(f"siamcan tune: interrupted before the first of {args.trials} trials finished", file=sys.stderr)
        return
    best = max(history, key=lambda h: h["objective"])
    params = ", ".join(f"{k}={v:.4f}" for k, v in best.items() if k not in ("trial", "objective"))
    print(f"siamcan tune: interrupted after {len(history)} of {args.trials} trials; {metric} on {dataset.name}: "
          f"{history[0]['objective']:.4f} with the config's values, best {best['objective']:.4f} with {params}"
          + ("" if not args.write_config else f" ({args.write_config} not written)"), file=sys.stderr)
    if args.log:
        _write_log(args.log, history)
        print(f"siamcan tune: the {len(history)} finished trials: {args.log}", file=sys.stderr)

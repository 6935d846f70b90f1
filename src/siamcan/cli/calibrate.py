"""``siamcan calibrate DATASET``: fit the per-frame confidence (probability that the box overlaps the target) of a
model on a validation set, report how well it ranks frames, and write it into the model's config."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", nargs="+", help="dataset folder(s) to calibrate on (a validation set: never the set you "
                   "report on)")
    p.add_argument("--format", default="otb", help="otb, uav123, lasot, got10k, vot, json (default: otb)")
    p.add_argument("--root", default=None, help="image root for --format json")
    p.add_argument("--model", default=None, help="model name or config .yaml (default: the package default)")
    p.add_argument("--weights", default=None, help="model weights (default: the weights shipped for the model)")
    p.add_argument("--sequences", nargs="+", default=None, help="only these sequences")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads (default: physical cores - 1, at least 1)")
    p.add_argument("--write-config", default=None, metavar="OUT.yaml",
                   help="write the model's config with tracker.confidence_weights and tracker.lost_threshold set to "
                        "this file")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="reliability diagram")


def run(args: argparse.Namespace) -> int:
    import yaml

    from ..calibration import calibrate, plot_reliability, record
    from ..config import CONFIDENCE_FEATURES, config_to_dict
    from ..evaluation.datasets import combine, load_dataset
    from ..fileio import atomic_write_text
    from ..progress import progress_bar
    from ..threads import set_threads
    from ..zoo import Tracker

    if args.plot:
        from ..evaluation.report import check_plot_path

        check_plot_path(Path(args.plot))  # before the tracking
    set_threads(args.threads)
    dataset = combine([load_dataset(d, args.format, args.root) for d in args.dataset]).select(args.sequences)
    loaded = Tracker.from_pretrained(args.model, weights=args.weights)
    tracker = Tracker(loaded.engine, dataclasses.replace(loaded.cfg, confidence_weights=(), redetect=False))
    bar = progress_bar(total=sum(len(s) - 1 for s in dataset), unit="frame", desc="calibrate")
    try:
        rec = record(tracker, dataset, bar.update)
    finally:
        bar.close()
    cal = calibrate(rec, highest_lost=loaded.cfg.found_threshold)
    named = {"all": "every feature", "peak": "the peak alone"}
    print(f"confidence on {dataset.name} ({len(dataset)} sequences, {cal.frames} frames, {cal.positives} with the box "
          f"on the target): ROC AUC {cal.roc_auc:.3f} (leave-one-sequence-out {cal.roc_auc_loso:.3f}; the network's "
          f"score alone {cal.roc_auc_raw:.3f}); {named[cal.features]}, L2 penalty {cal.l2:g}, chosen by "
          f"leave-one-sequence-out log-loss, {cal.log_loss_loso:.4f} (a constant confidence, held out too: "
          f"{cal.log_loss_base:.4f}; "
          + "; ".join(f"{named[f]}: " + ", ".join(f"{l2:g}: {v:.4f}" for (g, l2), v in cal.loso.items() if g == f)
                      for f in named) + ")")
    if not cal.log_loss_loso < cal.log_loss_base:
        print(f"siamcan calibrate: warning: on sequences it was not fitted on, this confidence predicts no better "
              f"than a constant (log-loss {cal.log_loss_loso:.4f} against {cal.log_loss_base:.4f}); calibrate on more "
              "sequences, with frames where the tracker loses the target in several of them", file=sys.stderr)
    print("weights (bias, " + ", ".join(CONFIDENCE_FEATURES) + "): " + ", ".join(f"{w:.4f}" for w in cal.weights))
    print("reliability (mean confidence -> observed rate, frames): " +
          "; ".join(f"{a:.2f} -> {b:.2f} ({n})" for a, b, n in cal.reliability))
    print(f"lost threshold: {cal.lost_threshold:.2f} (the best F1 score, {cal.lost_f1:.3f}, for the frames off the "
          f"target; at most the found threshold {loaded.cfg.found_threshold:g})")
    if args.plot:
        plot_reliability(cal, args.plot)
    if args.write_config:
        from ..zoo import resolve_config

        conf = resolve_config(args.model)
        data = config_to_dict(conf)
        data["tracker"]["confidence_weights"] = [round(float(w), 4) for w in cal.weights]
        data["tracker"]["lost_threshold"] = cal.lost_threshold
        atomic_write_text(args.write_config, yaml.safe_dump(data, sort_keys=False))
        print(f"config with the confidence weights and the lost threshold: {Path(args.write_config)}")
    return 0

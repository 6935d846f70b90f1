"""``siamcan report DATASET --format FMT --results DIR``: benchmark metrics of result files (pysot layout), as a
table, a JSON file and success / precision plots."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

MAX_BOOTSTRAP = 100_000  # 10x the usual 10000; a million resamplings of 100 sequences would hold 800 MB of indices


def add_parser(p: argparse.ArgumentParser) -> None:
    from ..evaluation.datasets import FORMATS

    p.add_argument("dataset", help="dataset folder (or the annotation .json for --format json)")
    p.add_argument("--format", required=True, choices=FORMATS, help="dataset layout")
    p.add_argument("--root", default=None, help="image root for --format json (VOT image sizes)")
    p.add_argument("--results", required=True, help="results folder (DIR/<dataset>/<tracker>/... or DIR/<tracker>)")
    p.add_argument("--trackers", nargs="+", default=None, metavar="NAME", help="trackers (default: all found)")
    p.add_argument("--sequences", nargs="+", default=None, metavar="NAME", help="only these sequences")
    p.add_argument("--json", default=None, metavar="OUT.json", help="write the metrics as JSON")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="success + precision plots (one-pass)")
    p.add_argument("--vot-year", default=None, help="EAO interval: 2016, 2018 or 2019 (default: from the name)")
    p.add_argument("--attributes", action="store_true", help="also print the per-attribute / per-tag table")
    p.add_argument("--per-sequence", action="store_true", help="also print the success AUC of every sequence")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="also print 95%% intervals of the AUC and of the differences between trackers from N "
                        "resamplings of the sequences (seed 0; one-pass datasets)")
    p.add_argument("--versus", default=None, metavar="NAME",
                   help="paired bootstrap of every tracker against NAME: the difference of the success AUC (and "
                        "of the VOT-LT F-score where frames are marked absent), its 95%% interval and the share of "
                        "resamples where the tracker is ahead (--bootstrap N resamples, default 10000; seed 0)")
    p.add_argument("--blocks", type=int, default=0, metavar="N",
                   help="with --versus: resample N consecutive blocks of frames within each sequence instead of "
                        "whole sequences (a single long sequence; e.g. 20)")


def run(args: argparse.Namespace) -> int:
    from ..evaluation.datasets import load_dataset
    from ..errors import SiamcanError
    from ..evaluation.report import (bootstrap_auc, check_plot_path, format_bootstrap, format_longterm,
                                     format_per_sequence, format_table, plot_curves, public, score_trackers)
    from ..fileio import atomic_write_text, check_name

    if not 0 <= args.bootstrap <= MAX_BOOTSTRAP:  # memory grows with resamplings x sequences x trackers
        raise SiamcanError(f"--bootstrap must be between 0 and {MAX_BOOTSTRAP} resamplings, got {args.bootstrap}")
    if args.blocks and not args.versus:
        raise SiamcanError("--blocks goes with --versus NAME (the paired comparison it resamples)")
    if args.blocks < 0:
        raise SiamcanError(f"--blocks must be >= 0, got {args.blocks}")
    if args.plot:
        check_plot_path(Path(args.plot))  # before any scoring
    for name in args.trackers or []:
        check_name(name, "--trackers name")
    dataset = load_dataset(args.dataset, args.format, args.root).select(args.sequences)
    if args.bootstrap and dataset.supervised:
        raise SiamcanError("--bootstrap is for one-pass datasets (success AUC); not for VOT")
    report = score_trackers(dataset, Path(args.results), args.trackers, args.vot_year)
    print(format_table(report, dataset.supervised))
    if report.get("_longterm"):
        print(format_longterm(report))
        report["longterm_per_sequence"] = report["_longterm"]
    if args.attributes:
        _print_attributes(report, dataset.supervised)
    if args.per_sequence:
        print(format_per_sequence(report))
    if args.bootstrap and not args.versus:
        report["bootstrap"] = bootstrap_auc(report["_sequences"], args.bootstrap)
        print(format_bootstrap(report["bootstrap"]))
    if args.versus:
        from ..evaluation.paired import compare, format_compare

        report["versus"] = compare(report, args.versus, args.bootstrap or 10000, args.blocks)
        print(format_compare(report["versus"]))
    if args.json:
        atomic_write_text(args.json, json.dumps(public(report), indent=2) + "\n")
        print(f"metrics: {args.json}")
    if args.plot:
        plot_curves(report, Path(args.plot))
        print(f"plot: {args.plot}")
    return 0


def _print_attributes(report: dict, supervised: bool) -> None:
    for name, attrs in report["_attributes"].items():
        if not attrs:
            print(f"{name}: no attributes / tags in this dataset")
            continue
        print(f"{name} per {'tag (EAO)' if supervised else 'attribute (AUC / P@20, sequences)'}:")
        for attr, value in attrs.items():
            if supervised:
                print(f"  {attr:<16} {value:.3f}")
            else:
                print(f"  {attr:<16} {value['success_auc']:.3f} / {value['precision']:.3f}  ({value['sequences']})")

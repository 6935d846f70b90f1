"""``siamcan view RESULTS``: look at results in the local web page (:mod:`siamcan.web.view`).

``RESULTS`` is a boxes file (with ``--source``, and optionally ``--gt`` / ``--scores``) or an ``eval`` results folder
(with ``--dataset`` and ``--format``): the frames with the tracker's box and the ground truth, per-frame IoU and
confidence plots, and for an evaluation the per-sequence table sorted by success AUC.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import SiamcanError


def add_parser(p: argparse.ArgumentParser) -> None:
    from ..evaluation.datasets import FORMATS
    from .web import add_web_options

    p.add_argument("results", help="a boxes file (x,y,w,h per frame) or a results folder written by siamcan eval")
    p.add_argument("--source", default=None, help="boxes file: the video or image folder it was tracked on")
    p.add_argument("--gt", default=None, help="boxes file: ground truth (x,y,w,h per frame) to draw and score against")
    p.add_argument("--scores", default=None,
                   help="boxes file: its 'confidence,lost' file (default: <name>.scores.txt beside it, if any)")
    p.add_argument("--dataset", default=None, help="results folder: the dataset eval ran on")
    p.add_argument("--format", default=None, choices=FORMATS, help="results folder: the dataset's layout")
    p.add_argument("--root", default=None, help="results folder: image root for --format json")
    p.add_argument("--tracker", default=None,
                   help="results folder: the tracker to show (default: the only one in the folder)")
    add_web_options(p)


def run(args: argparse.Namespace) -> int:
    from ..web.server import serve
    from ..web.view import from_boxes_file, from_eval, routes

    results = Path(args.results)
    if results.is_dir():
        title, sequences = from_eval(args.results, args.dataset, args.format, args.root, args.tracker)
        kind = "eval"
    elif results.is_file():
        sequences = from_boxes_file(args.results, args.source, args.gt, args.scores)
        title, kind = f"{results.name} on {args.source}", "file"
    else:
        raise SiamcanError(f"results not found: {results} (a boxes file or a results folder of siamcan eval)")
    try:
        serve(routes(title, kind, sequences), "view.html", args.port, not args.no_browser, "view")
    finally:
        for s in sequences:
            s.reader.close()
    return 0

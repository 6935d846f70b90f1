"""``siamcan demo``: track the target through the built-in clip, write an annotated GIF and the boxes, print the score.

Needs no arguments and nothing from the network: the clip is generated from a photograph shipped with matplotlib
(see :mod:`siamcan.demo`) and the default model's weights ship inside the package.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import DEFAULT_MODEL


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default="siamcan-demo", help="output folder (default: ./siamcan-demo)")
    p.add_argument("--model", default=None, help=f"model name or config .yaml (default: {DEFAULT_MODEL})")
    p.add_argument("--weights", default=None, help="model weights (default: the weights shipped with the package)")
    p.add_argument("--frames", type=int, default=120, help="clip length, 2 to 10000 (default: 120)")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    p.add_argument("--video", nargs="+", default=["demo.gif", "demo.mp4"], metavar="NAME",
                   help="annotated video name(s) inside --output: .gif and/or .mp4 (H.264) "
                        "(default: demo.gif demo.mp4)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads (default: physical cores - 1, at least 1)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..demo import MAX_FRAMES, iter_clip
    from ..errors import SiamcanError
    from ..evaluation.metrics import precision_curve, success_curve
    from ..fileio import check_name, write_boxes
    from ..progress import progress_bar
    from ..threads import check_threads, set_threads
    from ..tracking.video import VideoWriter, check_video_name
    from ..zoo import Tracker

    if not 2 <= args.frames <= MAX_FRAMES:
        raise SiamcanError(f"--frames must be between 2 and {MAX_FRAMES}, got {args.frames}")
    for name in args.video:
        check_name(name, "--video name")
        check_video_name(name, "--video")
    args.threads = check_threads(args.threads)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(args.threads)
    tracker = Tracker.from_pretrained(args.model, weights=args.weights, device=args.device)
    writers = [VideoWriter(str(out / name), fps=15) for name in args.video]
    boxes, gt = [], []
    t0 = time.perf_counter()
    try:
        for i, (frame, truth) in enumerate(progress_bar(iter_clip(args.frames), total=args.frames, desc="demo",
                                                          unit="frame")):
            if i == 0:
                tracker.init(frame, truth)
                box = list(truth)
            else:
                box, _ = tracker.update(frame)
            boxes.append(box)
            gt.append(truth)
            for w in writers:
                w.write(frame, box, gt=truth)
        elapsed = time.perf_counter() - t0
    except BaseException:
        for w in writers:
            w.abort()
        raise
    for w in writers:
        w.close()
    gt = np.asarray(gt)
    write_boxes(out / "boxes.txt", boxes)
    write_boxes(out / "groundtruth.txt", gt, decimals=2)
    pred = np.asarray(boxes)
    auc = float(success_curve(gt, pred).mean())
    prec = float(precision_curve(gt, pred)[20])
    name = getattr(tracker, "config", None).name if getattr(tracker, "config", None) else "siamcan"
    print(f"{name} on the built-in clip ({len(boxes)} frames, {len(boxes) / elapsed:.1f} FPS incl. video writing): "
          f"success AUC {auc:.3f}, precision@20px {prec:.3f}")
    videos = ", ".join(str(out / v) for v in args.video)
    print(f"outputs: {videos} (green: tracker, orange: ground truth), {out / 'boxes.txt'}")
    return 0

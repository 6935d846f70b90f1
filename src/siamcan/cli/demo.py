"""``siamcan demo``: track the target through the built-in clip, write an annotated GIF and the boxes, print the score.

Needs no arguments and nothing from the network: the clip is generated from a photograph shipped with matplotlib
(see :mod:`siamcan.demo`) and the default model's weights ship inside the package.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default="siamcan-demo", help="output folder (default: ./siamcan-demo)")
    p.add_argument("--model", default=None, help="model name or config .yaml (default: siamcan-lite)")
    p.add_argument("--weights", default=None, help="model weights (default: the weights shipped with the package)")
    p.add_argument("--frames", type=int, default=120, help="clip length (default: 120)")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    p.add_argument("--video", default="demo.gif", help="annotated video name inside --output (.gif or .mp4)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..demo import generate_clip
    from ..evaluation.metrics import precision_curve, success_curve
    from ..fileio import write_boxes
    from ..progress import progress_bar
    from ..tracking.video import VideoWriter
    from ..zoo import Tracker

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    frames, gt = generate_clip(args.frames)
    tracker = Tracker.from_pretrained(args.model, weights=args.weights, device=args.device)
    writer = VideoWriter(str(out / args.video), fps=15)
    boxes = [gt[0].tolist()]
    t0 = time.perf_counter()
    tracker.init(frames[0], gt[0])
    writer.write(frames[0], gt[0], gt=gt[0])
    for i in progress_bar(range(1, len(frames)), desc="demo", unit="frame"):
        box, _ = tracker.update(frames[i])
        boxes.append(box)
        writer.write(frames[i], box, gt=gt[i])
    elapsed = time.perf_counter() - t0
    writer.close()
    write_boxes(out / "boxes.txt", boxes)
    write_boxes(out / "groundtruth.txt", gt, decimals=2)
    pred = np.asarray(boxes)
    auc = float(success_curve(gt, pred).mean())
    prec = float(precision_curve(gt, pred)[20])
    name = getattr(tracker, "config", None).name if getattr(tracker, "config", None) else "siamcan"
    print(f"{name} on the built-in clip ({len(frames)} frames, {len(frames) / elapsed:.1f} FPS): "
          f"success AUC {auc:.3f}, precision@20px {prec:.3f}")
    print(f"outputs: {out / args.video} (green: tracker, orange: ground truth), {out / 'boxes.txt'}")
    return 0

"""``siamcan track SOURCE --init X,Y,W,H``: track one object, write one x,y,w,h line per frame."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import SiamcanError


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="video file or folder of images")
    p.add_argument("--init", required=True, metavar="X,Y,W,H", help="box of the object in the first frame")
    p.add_argument("--model", default=None, help="model name (siamcan-lite, siamcan-r50) or config .yaml")
    p.add_argument("--weights", default=None, help="model weights (.safetensors or .pth)")
    p.add_argument("--output", default=None, help="boxes file (default: <source name>.boxes.txt)")
    p.add_argument("--save-video", default=None, metavar="OUT.mp4", help="write the frames with the box drawn")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--backend", default="auto", help="auto, fast, eager or onnx (needs --onnx-dir)")
    p.add_argument("--onnx-dir", default=None, metavar="DIR", help="folder written by 'siamcan export --onnx DIR'")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..fileio import parse_box, write_boxes
    from ..tracking.sources import FrameSource
    from ..tracking.tracker import check_box
    from ..tracking.video import VideoWriter
    from ..zoo import Tracker

    box = parse_box(args.init)
    if len(box) != 4:
        raise SiamcanError(f"--init needs 4 values X,Y,W,H, got {len(box)}")
    source = FrameSource(args.source)
    check_box(box, (source.size[1], source.size[0]))  # fail before loading the model
    output = Path(args.output) if args.output else Path(f"{Path(args.source).stem or 'track'}.boxes.txt")
    if output.is_dir():
        raise SiamcanError(f"--output {output} is a folder, expected a file name")
    if args.save_video and Path(args.save_video).is_dir():
        raise SiamcanError(f"--save-video {args.save_video} is a folder, expected a file name like out.mp4")
    tracker = Tracker.from_pretrained(args.model, weights=args.weights, device=args.device, backend=args.backend,
                                      onnx_dir=args.onnx_dir)
    writer = VideoWriter(args.save_video, source.fps) if args.save_video else None
    boxes, carried = [], []
    t_track = 0.0
    finished = False
    try:
        for i, frame in enumerate(tqdm(source, total=len(source) or None, desc="track", unit="frame")):
            if i == 0:
                if frame is None:
                    raise SiamcanError(f"the first frame ({source.frame_name(0)}) cannot be decoded")
                tracker.init(frame, box)
                out = list(box)
            elif frame is None:
                out = boxes[-1]
                carried.append(i + 1)
                tqdm.write(f"siamcan track: warning: frame {i + 1} ({source.frame_name(i)}) cannot be decoded; "
                           "previous box carried")
            else:
                t0 = time.perf_counter()
                out, _ = tracker.update(frame)
                t_track += time.perf_counter() - t0
            boxes.append(out)
            if writer is not None and frame is not None:
                writer.write(frame, out, carried=bool(carried and carried[-1] == i + 1))
        finished = True
    finally:  # outputs are complete or absent: an interrupted run leaves no partial video
        if writer is not None:
            writer.close() if finished else writer.abort()
    write_boxes(output, boxes)
    n = len(boxes)
    fps = (n - 1 - len(carried)) / t_track if t_track > 0 else float("nan")
    print(f"tracked {n} frames at {fps:.1f} FPS (network + post-processing); boxes: {output}"
          + (f"; video: {args.save_video}" if writer else "")
          + (f"; {len(carried)} undecodable frame(s) carried: {carried[:10]}" if carried else ""))
    return 0

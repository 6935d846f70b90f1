"""``siamcan track SOURCE --init X,Y,W,H``: track one object, write one x,y,w,h line per frame.

Several objects: ``--init`` repeated, or ``--targets FILE`` (one x,y,w,h per line), all boxes in the first frame,
target ids 1..N in that order. They are tracked together (:class:`siamcan.MultiTracker`: one network call per frame
for all) and the output is MOT-challenge text, ``frame,id,x,y,w,h,conf,-1,-1,-1`` with 1-based frames; the video
draws each id in its own colour with its number, ``--scores`` writes ``frame,id,confidence,lost``.

SOURCE is a video file, a folder of images, a camera index or a stream URL. A file or folder is tracked to its end,
and an interrupted run leaves no boxes file (outputs are complete or absent). A camera or stream has no end of its
own: Ctrl-C / SIGTERM (or ``--max-frames``) ends it normally, and the boxes of every frame read are written.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Callable, NamedTuple

from ..config import DEFAULT_MODEL, MAIN_MODELS
from ..errors import SiamcanError

# the summary suggests --redetect when, without it, the target was lost in at least this many frames (about a second
# of video: longer than a brief occlusion, which the local tracker rides out)
LOST_HINT_FRAMES = 30


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="video file, folder of images, camera index (0) or stream URL (rtsp://, http://)")
    p.add_argument("--init", action="append", default=None, metavar="X,Y,W,H",
                   help="box of the object in the first frame, or a box file whose first line is that box "
                        "(x,y,w,h, or a VOT polygon x1,y1,...,x4,y4); repeat it for several objects (ids 1, 2, ... "
                        "in that order; MOT-challenge output), or 'browser': draw the box(es) in a local web page (the "
                        "default in a terminal; see --port, --no-browser)")
    p.add_argument("--targets", default=None, metavar="FILE",
                   help="several objects: a file with one x,y,w,h box per line, all in the first frame (ids 1, 2, "
                        "... in line order; MOT-challenge output)")
    p.add_argument("--model", default=None,
                   help=f"model name ({', '.join(MAIN_MODELS)}, ...) or config .yaml (default: {DEFAULT_MODEL})")
    p.add_argument("--weights", default=None,
                   help="model weights (.safetensors or .pth; default: the weights shipped for the model)")
    p.add_argument("--output", default=None,
                   help="boxes file (default: <video name>.boxes.txt, for an image folder <sequence name>.boxes.txt "
                        "- Human3/img gives Human3.boxes.txt - in the current folder; several objects: "
                        "<name>.mot.txt, MOT-challenge lines frame,id,x,y,w,h,conf,-1,-1,-1)")
    p.add_argument("--save-video", default=None, metavar="OUT.mp4",
                   help="write the frames with the box drawn: .mp4/.mov/.mkv as H.264, .gif, or any other "
                        "extension through OpenCV (default: no video)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--backend", default="auto",
                   help="auto (ONNX Runtime on the CPU where installed, else fast), fast, eager or onnx (the model "
                        "exported in memory, or the files of --onnx-dir)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="stop after N frames (init frame included; default: the whole source)")
    p.add_argument("--onnx-dir", default=None, metavar="DIR",
                   help="folder written by 'siamcan export --onnx DIR' (implies --backend onnx)")
    p.add_argument("--scores", default=None, metavar="FILE",
                   help="also write 'confidence,lost' per frame (the confidence that the box covers the target, "
                        "lost 1 while the tracker considers the target lost); several objects: 'frame,id,"
                        "confidence,lost' per frame and target")
    redetect = p.add_mutually_exclusive_group()
    redetect.add_argument("--redetect", dest="redetect", action="store_const", const=True, default=None,
                          help="while the target is lost, search the whole frame for it and re-acquire it on two "
                               "confident frames at the same place (default: as the model's config says; "
                               "siamcan-nano: off)")
    redetect.add_argument("--no-redetect", dest="redetect", action="store_const", const=False,
                          help="never search beyond the local crop")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads (default: physical cores - 1, at least 1: two threads sharing a core with "
                        "another job run many times slower than one)")
    from .web import add_web_options

    add_web_options(p, "--init browser or no --init")


def run(args: argparse.Namespace) -> int:
    if not args.targets and (not args.init or args.init == ["browser"]):  # draw the boxes in a web page
        from .web import track_in_browser

        return track_in_browser(args, open_run, track_to_files)
    boxes = target_boxes(args)
    source, tracker, output = open_run(args, boxes)
    track_to_files(args, source, tracker, boxes, output)
    return 0


def target_boxes(args: argparse.Namespace) -> list[list[float]]:
    """The first-frame boxes of the objects to track: ``--init`` (repeatable) or ``--targets FILE``."""
    from ..fileio import read_rows

    if args.init and args.targets:
        raise SiamcanError("give the boxes with --init or with --targets, not both")
    if args.targets:
        if Path(args.targets).is_dir():
            raise SiamcanError(f"--targets {args.targets} is a folder, expected a file of x,y,w,h lines")
        rows = read_rows(args.targets, what="--targets file")
        for k, r in enumerate(rows, 1):
            if len(r) != 4:
                raise SiamcanError(f"--targets {args.targets}: target {k} (line {k} of the boxes) has {len(r)} "
                                   "values, expected x,y,w,h")
        return rows
    if not args.init:
        raise SiamcanError("siamcan track needs the object's box in the first frame: --init X,Y,W,H (repeat it for "
                           "several objects), --targets FILE or --init browser")
    if "browser" in args.init:
        raise SiamcanError("--init browser draws every box in the page: give it alone, without other --init boxes")
    return [init_box(text) for text in args.init]


def open_run(args: argparse.Namespace, boxes: list[list[float]] | None):
    """Check the options, open SOURCE and load the tracker (before any frame is tracked): ``(source, tracker,
    output)``. ``boxes`` None: not known yet (the web page asks for them)."""
    from ..fileio import companion
    from ..tracking.sources import FrameSource
    from ..tracking.tracker import check_box
    from ..tracking.video import check_video_name
    from ..threads import check_threads, set_threads
    from ..zoo import Tracker

    multi = boxes is not None and len(boxes) > 1
    if args.max_frames is not None and args.max_frames < 1:
        raise SiamcanError(f"--max-frames must be at least 1, got {args.max_frames}")
    args.threads = check_threads(args.threads)
    source = FrameSource(args.source)
    try:
        for i, box in enumerate(boxes or [], 1):  # fail before loading the model
            try:
                check_box(box, (source.size[1], source.size[0]))
            except SiamcanError as e:
                raise SiamcanError(f"target {i}: {e}" if multi else str(e)) from None
        output = Path(args.output) if args.output else default_output(args.source, source.stream)
        if multi and not args.output:
            output = companion(output, ".mot.txt")
        if output.is_dir():
            raise SiamcanError(f"--output {output} is a folder, expected a file name")
        if args.scores and Path(args.scores).is_dir():
            raise SiamcanError(f"--scores {args.scores} is a folder, expected a file name")
        if args.save_video and Path(args.save_video).is_dir():
            raise SiamcanError(f"--save-video {args.save_video} is a folder, expected a file name like out.mp4")
        if args.save_video:
            check_video_name(args.save_video)
        set_threads(args.threads)
        tracker = Tracker.from_pretrained(args.model, weights=args.weights, device=args.device, backend=args.backend,
                                          onnx_dir=args.onnx_dir)
        if args.redetect is not None:
            tracker.cfg = dataclasses.replace(tracker.cfg, redetect=args.redetect)
    except BaseException:
        source.close()
        raise
    return source, tracker, output


class TrackOutcome(NamedTuple):
    frames: list  # per frame: (id, box, score, lost) of every target (one target: id 1)
    carried: list  # 1-based numbers of the frames that could not be decoded
    fps: float
    stopped: bool

    @property
    def boxes(self) -> list:
        """One target: its [x, y, w, h] per frame."""
        return [ts[0][1] for ts in self.frames]

    @property
    def scores(self) -> list:
        """One target: its (confidence, lost) per frame."""
        return [(ts[0][2], ts[0][3]) for ts in self.frames]


def track_to_files(args: argparse.Namespace, source, tracker, boxes: list[list[float]], output: Path,
                   on_step: Callable | None = None) -> TrackOutcome:
    """Track ``boxes`` (first frame) through ``source`` and write what the command writes: one box - a boxes file
    (one x,y,w,h a frame); several - a MOT-challenge file, the targets tracked together by a
    :class:`siamcan.MultiTracker` on ``tracker``'s engine; ``--save-video`` and ``--scores`` as asked.
    ``on_step(step)`` is called after each frame (the web page's progress; raising KeyboardInterrupt there stops the
    run as Ctrl-C does). Prints the summary line."""
    from tqdm import tqdm

    from ..progress import progress_bar

    from ..fileio import atomic_write_text, format_mot, write_boxes
    from ..tracking.multi import MultiTracker
    from ..tracking.video import VideoWriter

    multi = len(boxes) > 1
    ids = list(range(1, len(boxes) + 1))
    writer = VideoWriter(args.save_video, source.fps) if args.save_video else None
    frames: list[list] = []  # per frame: (id, box, score, lost) of every target
    carried = []
    t_track = 0.0
    finished = stopped = False
    total = len(source) or None  # None: a camera or live stream, no known length
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    if multi:
        steps = MultiTracker(tracker.engine, tracker.cfg).track(source, dict(zip(ids, boxes)), args.max_frames)
    else:
        steps = tracker.track(source, boxes[0], args.max_frames)
    steps = progress_bar(steps, total=total, desc="track", unit="frame")
    try:
        for step in steps:
            if step.frame is None:
                carried.append(step.index + 1)
                tqdm.write(f"siamcan track: warning: frame {step.index + 1} ({source.frame_name(step.index)}) "
                           f"cannot be decoded; previous box{'es' if multi else ''} carried", file=sys.stderr)
            t_track += step.seconds
            targets = [tuple(t) for t in step.targets] if multi else [(1, step.box, step.score, step.lost)]
            frames.append(targets)
            if writer is not None and step.frame is not None:
                if multi:
                    writer.write_targets(step.frame, targets)
                else:
                    writer.write(step.frame, step.box, carried=bool(carried and carried[-1] == step.index + 1),
                                 score=step.score, lost=step.lost)
            if on_step is not None:
                on_step(step)
        finished = True
    except KeyboardInterrupt:
        if not (source.stream and frames):
            raise
        finished = stopped = True  # a camera/stream ends here: what was read is the whole result
    finally:  # outputs are complete or absent: an interrupted run leaves no partial video
        steps.close()
        source.close()
        if writer is not None:
            writer.close() if finished else writer.abort()
    if multi:
        atomic_write_text(output, format_mot((n, i, box, sc) for n, ts in enumerate(frames, 1)
                                             for i, box, sc, _ in ts))
        if args.scores:
            atomic_write_text(args.scores, "".join(f"{n},{i},{sc:.4f},{int(lost)}\n" for n, ts in enumerate(frames, 1)
                                                   for i, _, sc, lost in ts))
    else:
        write_boxes(output, [ts[0][1] for ts in frames])
        if args.scores:
            atomic_write_text(args.scores, "".join(f"{ts[0][2]:.4f},{int(ts[0][3])}\n" for ts in frames))
    n = len(frames)
    lost_frames = sum(any(t[3] for t in ts) for ts in frames)
    fps = (n - 1 - len(carried)) / t_track if t_track > 0 else float("nan")
    print(f"tracked {n} frames{f' x {len(boxes)} targets' if multi else ''} at {fps:.1f} FPS (network + "
          f"post-processing); {'MOT file' if multi else 'boxes'}: {os.path.abspath(output)}"
          + (f"; video: {args.save_video}" if writer else "")
          + (f"; scores: {args.scores}" if args.scores else "")
          + (f"; {'a' if multi else 'the'} target lost in {lost_frames} frame(s)" if lost_frames else "")
          + (" (--redetect searches the whole frame while it is lost)"
             if lost_frames >= LOST_HINT_FRAMES and not tracker.cfg.redetect else "")
          + (f"; {len(carried)} undecodable frame(s) carried: {carried[:10]}" if carried else "")
          + ("; stopped by interrupt" if stopped else ""))
    return TrackOutcome(frames, carried, fps, stopped)


def init_box(text: str) -> list[float]:
    """``--init``: ``X,Y,W,H``, or the first line of a box file (``groundtruth_rect.txt``, a VOT polygon file)."""
    from ..evaluation.geometry import polygon_to_init_rect
    from ..fileio import parse_box

    path = Path(text)
    if path.is_file():
        first = next((line for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
                      if line.strip()), "")
        box = parse_box(first)
        if len(box) == 8:
            return polygon_to_init_rect(box)
        if len(box) != 4:
            raise SiamcanError(f"--init {text}: the first line of a box file must be x,y,w,h or a VOT polygon "
                               f"(8 values), got {len(box)} values")
        return box
    try:
        box = parse_box(text)
    except SiamcanError:
        if path.suffix or "/" in text or os.sep in text:  # meant as a file: say that it is not there
            raise SiamcanError(f"--init {text}: no such box file (or give the box as X,Y,W,H)") from None
        raise
    if len(box) != 4:
        raise SiamcanError(f"--init needs 4 values X,Y,W,H (or a box file), got {len(box)}")
    return box


IMAGE_SUBFOLDERS = ("img", "imgs", "color", "images", "frames")  # OTB / VOT / common layouts: named after the parent


def default_output(source: str, stream: bool) -> Path:
    """``<video name>.boxes.txt``; for a folder of images ``<sequence>.boxes.txt``, the sequence being the folder, or
    its parent for an ``img`` / ``color`` sub-folder (``Human3/img`` -> ``Human3.boxes.txt``); ``camera0.boxes.txt``
    for a camera; the URL's last path part for a stream."""
    if stream and source.isdigit():
        return Path(f"camera{source}.boxes.txt")
    if stream:  # rtsp://host:554/live/cam1.sdp?x=1 -> cam1
        source = source.split("://", 1)[1].split("?", 1)[0].rstrip("/").rpartition("/")[2]
        return Path(f"{Path(source).stem or 'track'}.boxes.txt")
    p = Path(os.path.abspath(source))  # lexical: "." and "Human3/img/" have names too
    if p.is_dir():
        name = p.parent.name if p.name.lower() in IMAGE_SUBFOLDERS and p.parent.name else p.name
        return Path(f"{name or 'track'}.boxes.txt")
    return Path(f"{p.stem or 'track'}.boxes.txt")

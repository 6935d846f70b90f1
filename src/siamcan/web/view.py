"""``siamcan view``: look at results already computed, in the same local page.

* a boxes file + its source (+ optional ground truth and ``confidence,lost`` scores file): one sequence;
* an ``eval`` results folder + the dataset: the per-sequence table (sorted by success AUC), each row opening its
  sequence.

A sequence shows its frames with the tracker's box (and the ground truth), the per-frame IoU with the ground truth
and the confidence, as plots under the player. Sequences are addressed by their number in the list the server built
at start-up; frames by their number: no request names a file.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from .frames import FrameReader


@dataclass
class ViewSequence:
    name: str
    reader: FrameReader
    boxes: np.ndarray  # (N, 4) tracker boxes
    gt: np.ndarray | None = None  # (N, 4) ground truth, NaN rows where unannotated
    confidence: np.ndarray | None = None
    lost: np.ndarray | None = None
    fps: float = 30.0
    size: tuple[int, int] = (0, 0)
    scores: dict = field(default_factory=dict)  # auc, precision (eval)

    def iou(self) -> np.ndarray | None:
        from ..evaluation.geometry import box_iou

        if self.gt is None:
            return None
        n = min(len(self.gt), len(self.boxes))
        out = np.full(len(self.boxes), np.nan)
        g, p = self.gt[:n], self.boxes[:n]
        ok = np.isfinite(g).all(axis=1) & (g[:, 2] > 0) & (g[:, 3] > 0) & np.isfinite(p).all(axis=1)
        if ok.any():
            out[:n][ok] = box_iou(g[ok], p[ok])
        return out

    def as_json(self) -> dict:
        def col(a):
            return None if a is None else [None if not math.isfinite(float(v)) else round(float(v), 4) for v in a]

        def rows(a):
            return None if a is None else [None if not np.isfinite(r).all() else [round(float(v), 2) for v in r]
                                           for r in a]

        frames = min(len(self.reader), len(self.boxes)) if len(self.reader) else len(self.boxes)  # the boxed ones
        return {"name": self.name, "frames": frames, "width": self.size[0], "height": self.size[1],
                "fps": self.fps, "boxes": rows(self.boxes), "gt": rows(self.gt), "iou": col(self.iou()),
                "confidence": col(self.confidence),
                "lost": None if self.lost is None else [bool(v) for v in self.lost], "scores": self.scores}


def read_scores(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``--scores`` file (``confidence,lost`` per frame) -> (confidence, lost)."""
    from ..fileio import read_rows

    rows = read_rows(path, "scores file")
    if len(rows) != n or any(len(r) != 2 for r in rows):
        raise SiamcanError(f"scores file {path}: expected {n} lines of 'confidence,lost' (one per box), got "
                           f"{len(rows)} lines")
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1] > 0


def from_boxes_file(boxes_path: str, source: str, gt: str | None = None, scores: str | None = None) -> list:
    """One sequence: ``boxes_path`` (x,y,w,h per frame) over ``source``; ``scores`` defaults to the track page's
    ``<name>.scores.txt`` beside the boxes when it exists."""
    from ..fileio import read_boxes
    from ..tracking.sources import FrameSource
    from ..fileio import companion

    if not source:
        raise SiamcanError("siamcan view BOXES needs --source (the video or image folder the boxes belong to)")
    src = FrameSource(source)
    if src.stream:
        src.close()
        raise SiamcanError(f"--source {source}: a camera or stream cannot be replayed; give a video file or folder")
    boxes = read_boxes(boxes_path, 4, "boxes file")
    reader = FrameReader(src)
    if len(reader) and len(boxes) > len(reader):
        raise SiamcanError(f"{boxes_path} has {len(boxes)} boxes but {source} has only {len(reader)} frames")
    if len(reader) and len(boxes) < len(reader):  # tracked with --max-frames, or another source's boxes
        print(f"siamcan view: note: {boxes_path} has {len(boxes)} boxes for the {len(reader)} frames of {source}; "
              f"showing its first {len(boxes)} frames", file=sys.stderr)
    g = read_boxes(gt, 4, "ground-truth file") if gt else None
    conf = lost = None
    spath = Path(scores) if scores else companion(Path(boxes_path), ".scores.txt")
    if scores or spath.is_file():
        conf, lost = read_scores(spath, len(boxes))
    seq = ViewSequence(Path(boxes_path).name, reader, boxes, g, conf, lost, src.fps, src.size)
    if g is not None:
        from ..evaluation.metrics import precision_curve, success_curve

        g = g[:len(boxes)]  # the frames that were tracked
        seq.scores = {"auc": float(success_curve(g, boxes).mean()), "precision": float(precision_curve(g, boxes)[20])}
    return [seq]


def from_eval(results: str, dataset_path: str, fmt: str, root: str | None = None, tracker: str | None = None):
    """Every sequence of ``dataset_path`` with a one-pass result of ``tracker`` in the results folder ``results``,
    sorted by success AUC (best first). Returns ``(title, sequences)``."""
    from ..evaluation.datasets import load_dataset
    from ..evaluation.metrics import score_one_pass
    from ..evaluation.results import (confidence_path, list_trackers, read_confidence, read_one_pass, result_file,
                                      tracker_root)

    if not dataset_path or not fmt:
        raise SiamcanError("siamcan view RESULTS_FOLDER needs --dataset DIR and --format FMT (as given to eval)")
    dataset = load_dataset(dataset_path, fmt, root)
    if dataset.supervised:
        raise SiamcanError(f"{dataset.name} is scored with the VOT supervised protocol; siamcan view shows one-pass "
                           "results (re-run eval without the VOT protocol, or use siamcan report)")
    names = list_trackers(Path(results), dataset.name)
    if tracker is None:
        if len(names) > 1:
            raise SiamcanError(f"{len(names)} trackers in {tracker_root(Path(results), dataset.name)}: choose one "
                               f"with --tracker ({', '.join(names)})")
        tracker = names[0]
    elif tracker not in names:
        raise SiamcanError(f"no tracker '{tracker}' in {tracker_root(Path(results), dataset.name)} "
                           f"(there: {', '.join(names)})")
    folder = tracker_root(Path(results), dataset.name) / tracker
    out = []
    for s in dataset:
        p = result_file(folder, dataset, s)
        if p is None:
            continue
        pred = read_one_pass(p)
        conf = read_confidence(confidence_path(p), len(pred))
        sc = score_one_pass(s, pred, dataset.exclude_absent) if s.scorable else None
        w, h = s.size()
        seq = ViewSequence(s.name, FrameReader(images=list(s.frames)), pred, s.boxes, conf, None, 30.0, (w, h),
                           {"auc": sc.auc if sc else None, "precision": float(sc.precision[20]) if sc else None})
        out.append(seq)
    if not out:
        raise SiamcanError(f"no result file of tracker '{tracker}' in {folder} for a sequence of {dataset.name}")
    out.sort(key=lambda q: -(q.scores["auc"] if q.scores["auc"] is not None else -1))
    return f"{tracker} on {dataset.name}", out


def routes(title: str, kind: str, sequences: list) -> list:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from .server import json_response

    def pick(request):
        k = int(request.path_params["k"])
        if not 0 <= k < len(sequences):
            raise SiamcanError(f"no sequence {k}")
        return sequences[k]

    async def info(request):
        rows = [{"index": k, "name": s.name, "frames": len(s.reader), "auc": s.scores.get("auc"),
                 "precision": s.scores.get("precision")} for k, s in enumerate(sequences)]
        return json_response({"mode": "view", "kind": kind, "title": title, "sequences": rows})

    async def sequence(request):
        try:
            s = pick(request)
        except SiamcanError as e:
            return json_response({"error": str(e)}, 404)
        return json_response(await run_in_threadpool(s.as_json))

    async def frame(request):
        try:
            s = pick(request)
            data = await run_in_threadpool(s.reader.jpeg, int(request.path_params["i"]))
        except SiamcanError as e:
            return PlainTextResponse(str(e), status_code=404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    return [Route("/api/info", info), Route("/api/sequence/{k:int}", sequence),
            Route("/api/sequence/{k:int}/frame/{i:int}", frame)]

"""Run a tracker over a benchmark: one-pass or the VOT supervised protocol, parallel over sequences, resumable.

Trackers are described by a picklable :class:`TrackerSpec` and built inside each worker process.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..errors import SiamcanError
from .datasets import Dataset, Sequence
from .geometry import region_overlaps_raster
from .results import confidence_path, one_pass_path, vot_path, write_confidence, write_rows

REINIT_SKIP = 5  # VOT: re-initialise 5 frames after a failure


class FrameTracker(Protocol):
    def init(self, frame: np.ndarray, box: list[float]) -> None: ...

    def update(self, frame: np.ndarray) -> tuple[list[float], float]: ...


@dataclass(frozen=True)
class TrackerSpec:
    """What to build: ``kind`` 'siamcan' (model / weights / device / benchmark), 'nanotrack-v3' / 'nanotrack-v2'
    (NanoTrack's ONNX networks in ONNX Runtime with its own tracker values; ``nanotrack_dir`` overrides the folder)
    or 'nanotrack-cv2' (OpenCV's ``cv2.TrackerNano``, NanoTrack v2)."""

    kind: str = "siamcan"
    model: str | None = None
    weights: str | None = None
    device: str | None = None
    benchmark: str | None = None
    nanotrack_dir: str | None = None
    redetect: bool | None = None  # siamcan: re-detection on / off (None: as the model's config says)


TRACKER_KINDS = ("siamcan", "nanotrack-v3", "nanotrack-v2", "nanotrack-cv2")


class NanoTrack:
    """OpenCV's ``cv2.TrackerNano`` (NanoTrack v2 ONNX) behind the ``init`` / ``update`` interface."""

    def __init__(self, model_dir: str | os.PathLike) -> None:
        import cv2

        d = Path(model_dir)
        backbone, head = d / "nanotrack_backbone_sim.onnx", d / "nanotrack_head_sim.onnx"
        for f in (backbone, head):
            if not f.is_file():
                raise SiamcanError(f"NanoTrack model file not found: {f} (set --nanotrack-dir)")
        if not hasattr(cv2, "TrackerNano_create"):
            raise SiamcanError("this OpenCV build has no cv2.TrackerNano (install opencv-python-headless>=4.7)")
        self._params = cv2.TrackerNano_Params()
        self._params.backbone = str(backbone)
        self._params.neckhead = str(head)
        self._tracker = None
        self._create = cv2.TrackerNano_create

    def init(self, frame: np.ndarray, box: list[float]) -> None:
        import cv2

        x, y, w, h = (int(round(v)) for v in box)
        # OpenCV 5's DNN prints "setPreferableTarget Targets are not supported by the new graph engine" as a WARN
        # line each time a tracker is created (once per sequence): nothing the user can act on
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._tracker = self._create(self._params)
        finally:
            cv2.utils.logging.setLogLevel(level)
        self._tracker.init(frame, (x, y, max(1, w), max(1, h)))

    def update(self, frame: np.ndarray) -> tuple[list[float], float]:
        _, box = self._tracker.update(frame)
        return [float(v) for v in box], float(self._tracker.getTrackingScore())


def default_nanotrack_dir() -> Path:
    """NanoTrack v2's folder, the one OpenCV's TrackerNano runs (:func:`siamcan.tracking.nanotrack.default_dir`)."""
    from ..tracking.nanotrack import default_dir

    return default_dir("v2")


def build_tracker(spec: TrackerSpec, threads: int | None = None) -> FrameTracker:
    """The tracker of ``spec``; ``threads``: its math threads (None: torch's thread count, which ``--threads``
    sets, so siamcan and NanoTrack get the same)."""
    if spec.kind in ("nanotrack-cv2", "nanotrack"):
        return NanoTrack(spec.nanotrack_dir or default_nanotrack_dir())
    if spec.kind in ("nanotrack-v3", "nanotrack-v2"):
        import torch

        from ..tracking.nanotrack import nanotrack_tracker

        return nanotrack_tracker(spec.kind[-2:], spec.nanotrack_dir, threads or torch.get_num_threads())
    if spec.kind == "siamcan":
        from ..zoo import Tracker

        tr = Tracker.from_pretrained(spec.model, weights=spec.weights, device=spec.device,
                                     benchmark=spec.benchmark, threads=threads)
        if spec.redetect is not None:
            import dataclasses

            tr.cfg = dataclasses.replace(tr.cfg, redetect=spec.redetect)
        return tr
    raise SiamcanError(f"unknown --tracker '{spec.kind}' ({', '.join(TRACKER_KINDS)})")


def run_one_pass_scored(tracker: FrameTracker, seq: Sequence, tick: Callable[[], object] | None = None
                        ) -> tuple[list[list[float]], list[float]]:
    """Init on frame 0 with the ground-truth box, then one box and one score (the tracker's confidence) per frame;
    the init frame's score is NaN (``tick`` is called per frame)."""
    boxes = [seq.init_box(0)]
    scores = [float("nan")]
    tracker.init(seq.frame(0), boxes[0])
    for i in range(1, len(seq)):
        box, score = tracker.update(seq.frame(i))
        boxes.append([float(v) for v in box])
        scores.append(float(score))
        if tick is not None:
            tick()
    return boxes, scores


def run_one_pass(tracker: FrameTracker, seq: Sequence, tick: Callable[[], object] | None = None
                 ) -> list[list[float]]:
    """Init on frame 0 with the ground-truth box, then one box per frame (``tick`` is called per frame)."""
    return run_one_pass_scored(tracker, seq, tick)[0]


def run_supervised(tracker: FrameTracker, seq: Sequence, tick: Callable[[], object] | None = None
                   ) -> list[list[float]]:
    """VOT baseline protocol: code 1 on (re-)init, 2 when the overlap with the ground-truth region drops to 0,
    then 0 for the skipped frames until re-initialisation 5 frames later (frames are not decoded while skipped)."""
    rows: list[list[float]] = []
    next_init = 0
    bounds = None
    for i in range(len(seq)):
        if tick is not None and i:
            tick()
        if i < next_init:
            rows.append([0])
            continue
        frame = seq.frame(i)
        if bounds is None:
            bounds = (frame.shape[1], frame.shape[0])
        if i == next_init:
            tracker.init(frame, seq.init_box(i))
            rows.append([1])
            continue
        box, _ = tracker.update(frame)
        box = [float(v) for v in box]
        overlap = region_overlaps_raster(np.array([box]), seq.gt[i:i + 1], bounds)[0]
        if overlap > 0:
            rows.append(box)
        else:
            rows.append([2])
            next_init = i + REINIT_SKIP
    return rows


def result_path(results: Path, dataset: Dataset, tracker_name: str, seq: Sequence) -> Path:
    if dataset.supervised:
        return vot_path(results, dataset.name, tracker_name, seq.name)
    return one_pass_path(results, dataset.name, tracker_name, seq.name)


_WORKER_TRACKER: FrameTracker | None = None


def _die_with_parent() -> None:
    """In a pool worker: ignore Ctrl-C (the parent stops the pool) and, on Linux, get SIGTERM when the parent
    process dies, however it dies (a second Ctrl-C, SIGKILL), so no worker outlives the run."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):  # not Linux / no libc: the parent's cleanup still applies
        pass


def _pool_worker_init(spec: TrackerSpec, threads: int) -> None:
    _die_with_parent()
    _worker_init(spec, threads)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued sequences and end the worker processes now (an interrupted or failed run)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    try:
        for p in procs:
            p.join(5)
    finally:  # also when another Ctrl-C arrives while waiting
        for p in procs:
            if p.is_alive():
                p.kill()


def _worker_init(spec: TrackerSpec, threads: int) -> None:
    global _WORKER_TRACKER
    from ..threads import keep_frame_memory

    keep_frame_memory()  # pool workers too (in-process, set_threads has done it)
    if threads and spec.kind == "siamcan":
        import torch

        torch.set_num_threads(threads)
    elif threads:
        import cv2

        cv2.setNumThreads(threads)
    _WORKER_TRACKER = build_tracker(spec, threads or None)


def _run_task(seq: Sequence, supervised: bool, out: Path, tick: Callable[[], object] | None = None
              ) -> tuple[str, int, float]:
    """Track one sequence with this process's tracker, write its result file; -> (name, frames, seconds)."""
    assert _WORKER_TRACKER is not None
    t0 = time.perf_counter()
    try:
        if supervised:
            rows = run_supervised(_WORKER_TRACKER, seq, tick)
        else:
            rows, scores = run_one_pass_scored(_WORKER_TRACKER, seq, tick)
    except SiamcanError as e:  # e.g. an init box that does not fit the frame: say which sequence
        raise SiamcanError(f"sequence {seq.name}: {e}") from None
    seconds = time.perf_counter() - t0
    if not supervised:  # beside the boxes, written first: the boxes file marks the sequence as done
        write_confidence(confidence_path(out), scores)
    write_rows(out, rows)
    return seq.name, len(seq), seconds


@dataclass
class RunSummary:
    sequences: int
    skipped: int
    frames: int
    seconds: float  # tracking time summed over sequences (per-process speed)
    wall: float     # elapsed time of the whole run
    output: Path

    @property
    def fps(self) -> float:
        """Frames per second of one tracker process."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def wall_fps(self) -> float:
        """Throughput of the whole run (all workers)."""
        return self.frames / self.wall if self.wall > 0 else float("nan")


def evaluate(dataset: Dataset, spec: TrackerSpec, tracker_name: str, results: Path, workers: int = 1,
             progress: bool = True, threads: int | None = None) -> RunSummary:
    """Run ``spec`` on every sequence without a result file yet; ``workers`` > 1 uses a process pool (``threads``
    torch threads per worker, default 1; in-process the caller's setting stays unless ``threads`` is given).
    Returns the totals (frames / tracking seconds over the sequences run now). An interrupted or failed pool run
    ends its worker processes before returning."""
    from ..fileio import check_name
    from ..progress import progress_bar

    check_name(tracker_name, "tracker name")
    todo = [s for s in dataset if not result_path(results, dataset, tracker_name, s).is_file()]
    skipped = len(dataset) - len(todo)
    out_dir = results / dataset.name / tracker_name
    frames, seconds = 0, 0.0
    if not todo:  # a fully resumed run: nothing to build or track
        return RunSummary(0, skipped, 0, 0.0, 0.0, out_dir)
    t_start = time.perf_counter()
    bar = progress_bar(total=sum(len(s) for s in todo), unit="frame", desc=f"{tracker_name} on {dataset.name}",
                       disable=not progress)
    try:
        if workers <= 1:
            _worker_init(spec, threads or 0)
            for seq in todo:
                bar.update(1)  # the init frame
                _, n, sec = _run_task(seq, dataset.supervised, result_path(results, dataset, tracker_name, seq),
                                      bar.update)
                frames, seconds = frames + n, seconds + sec
        else:
            import multiprocessing as mp

            pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_pool_worker_init,
                                       initargs=(spec, threads or 1))
            try:
                futures = [pool.submit(_run_task, seq, dataset.supervised,
                                       result_path(results, dataset, tracker_name, seq)) for seq in todo]
                for fut in as_completed(futures):
                    _, n, sec = fut.result()
                    frames, seconds = frames + n, seconds + sec
                    bar.update(n)
            except BaseException:  # Ctrl-C (also a second one), SIGTERM, a failed sequence: no worker left behind
                _stop_pool(pool)
                raise
            pool.shutdown()
    finally:
        bar.close()
    return RunSummary(len(todo), skipped, frames, seconds, time.perf_counter() - t_start, out_dir)

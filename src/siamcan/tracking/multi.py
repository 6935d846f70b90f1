"""Several targets in one pass (issue 23): :class:`MultiTracker`, one batched network call per frame.

Each target is a :class:`~siamcan.tracking.tracker.SiamCANTracker` of its own (template, size, confidence, lost /
re-detection state), all on one engine. Per frame the targets' search crops go through the network together
(``engine.track_batch``: N crops against the N templates' states, stacked once when a target is added or removed),
the maps of all of them are decoded and scored at once (:func:`~siamcan.tracking.maps.decode_maps`,
:func:`~siamcan.tracking.tracker.select_best`: the functions the single tracker runs with N = 1) and each target's
row goes to that target's own :meth:`~siamcan.tracking.tracker.SiamCANTracker.located`. A target that is lost while
re-detection is on searches the frame on its own (:meth:`SiamCANTracker.update`). So each target gets the boxes a
single tracker gets on the same frames (float rounding of the batched network aside).
"""
from __future__ import annotations

import time
from typing import Iterator, NamedTuple

import numpy as np

from ..config import TrackerConfig
from ..errors import SiamcanError
from .maps import crop_maps
from .tracker import SiamCANTracker, check_box, check_frame, select_best


class TargetStep(NamedTuple):
    """One target in one frame: its id, box ``[x, y, w, h]``, score (as :class:`~siamcan.tracking.tracker.Step`'s:
    1.0 on the frame it was added, NaN where the frame could not be decoded) and whether it is lost."""
    id: int
    box: list[float]
    score: float
    lost: bool = False


class MultiStep(NamedTuple):
    """One frame of :meth:`MultiTracker.track`: its 0-based index, the frame (None if it could not be decoded), one
    :class:`TargetStep` per target (in the order the targets were added) and the seconds ``update`` took."""
    index: int
    frame: np.ndarray | None
    targets: list[TargetStep]
    seconds: float = 0.0


def _items(boxes) -> list:
    """(id, box) pairs of a list of boxes (ids 0..N-1) or a dict id -> box."""
    if isinstance(boxes, dict):
        return list(boxes.items())
    if isinstance(boxes, (str, bytes)) or not hasattr(boxes, "__iter__"):
        raise SiamcanError(f"boxes must be a list of x,y,w,h boxes or a dict id -> box, got {type(boxes).__name__}")
    return list(enumerate(boxes))


def _check_id(i) -> int:
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
        raise SiamcanError(f"a target id must be a non-negative integer, got {i!r}")
    return int(i)


class MultiTracker:
    """Several targets: ``init(frame, boxes)``, ``add(frame, box)``, ``remove(id)``, ``update(frame) -> [TargetStep]``.

    Boxes are ``[x, y, w, h]`` in pixels, frames HxWx3 uint8 BGR, ids non-negative integers (``init`` with a list:
    0..N-1). ``siamcan.MultiTracker.from_pretrained(...)`` builds one on a named model, like ``siamcan.Tracker``.
    """

    def __init__(self, engine, cfg: TrackerConfig | None = None):
        self.engine = engine
        self.cfg = cfg or TrackerConfig()
        self.targets: dict[int, SiamCANTracker] = {}
        self._stacked = None  # (ids, their states, the stacked state): rebuilt when the batch changes

    # ------------------------------------------------------------------ API
    @property
    def ids(self) -> list[int]:
        return list(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def init(self, frame: np.ndarray, boxes) -> list[int]:
        """Start over with ``boxes``: a list of ``[x, y, w, h]`` (ids 0..N-1) or a dict id -> box. Every box is
        checked before any target is set up."""
        frame = check_frame(frame)
        items = _items(boxes)
        seen = set()
        for i, box in items:
            i = _check_id(i)
            if i in seen:
                raise SiamcanError(f"target id {i} is given twice")
            seen.add(i)
            self._check_box(i, box, frame)
        self.targets, self._stacked = {}, None
        ids = [self._add(frame, box, i) for i, box in items]
        self._prepare()
        return ids

    def add(self, frame: np.ndarray, box, id: int | None = None) -> int:
        """Start tracking ``box`` (in ``frame``, the current frame) as target ``id`` (default: one more than the
        largest id so far); returns the id."""
        i = self._add(check_frame(frame), box, id)
        self._prepare()
        return i

    def _add(self, frame: np.ndarray, box, id: int | None) -> int:
        i = (max(self.targets) + 1 if self.targets else 0) if id is None else _check_id(id)
        if i in self.targets:
            raise SiamcanError(f"target id {i} is already tracked (ids: {self._id_list()})")
        self._check_box(i, box, frame)
        t = SiamCANTracker(self.engine, self.cfg)
        t.init(frame, box)
        self.targets[i] = t
        self._stacked = None
        return i

    def _prepare(self) -> None:
        """Let the engine set up its batch for this many targets (ONNX Runtime: export the graph, once per size)
        before the next frame, so the update is not the one that pays for it. (A target lost with re-detection on
        leaves the batch while it searches: that size is set up at its first use.)"""
        if hasattr(self.engine, "prepare_batch") and self.targets:
            self.engine.prepare_batch(len(self.targets))

    def remove(self, id: int) -> None:
        """Stop tracking target ``id``."""
        if id not in self.targets:
            raise SiamcanError(f"no target with id {id!r} to remove (ids: {self._id_list()})")
        del self.targets[id]
        self._stacked = None
        self._prepare()

    def update(self, frame: np.ndarray) -> list[TargetStep]:
        """Every target's box, score and lost flag in ``frame`` (one batched network call for all of them)."""
        frame = check_frame(frame)
        out: dict[int, tuple[list[float], float]] = {}
        batch = [i for i, t in self.targets.items() if not (t.lost and t.cfg.redetect)]
        if batch:
            trackers = [self.targets[i] for i in batch]
            crops, scales = zip(*(t.search_crop(frame) for t in trackers))
            cls, loc = self._network(np.stack(crops), batch)
            decoded = trackers[0].decode(cls, loc)  # one grid of points for every target
            sizes = np.array([t.size * s for t, s in zip(trackers, scales)])
            penalty, best = select_best(decoded, sizes, trackers[0].window, self.cfg)
            for k, (i, t) in enumerate(zip(batch, trackers)):
                out[i] = t.located(tuple(v[k] for v in decoded), penalty[k], int(best[k]), scales[k], frame)
        for i, t in self.targets.items():
            if i not in out:  # lost, re-detection on: its own search over the frame
                out[i] = t.update(frame)
        return [TargetStep(i, out[i][0], out[i][1], self.targets[i].lost) for i in self.targets]

    def track(self, source, boxes, max_frames: int | None = None) -> Iterator[MultiStep]:
        """Track ``boxes`` (a list or dict id -> box, in the first frame) through ``source`` (as
        :meth:`SiamCANTracker.track`: a video file, a folder of images, a camera index, a stream URL or any iterable
        of frames). Yields a :class:`MultiStep` per frame, the first included; break out of the loop to stop."""
        from .sources import numbered_frames

        frames = numbered_frames(source, max_frames)
        try:
            prev: list[TargetStep] = []
            for n, frame in frames:
                if n == 0:
                    self.init(frame, boxes)
                    prev = [TargetStep(int(i), [float(v) for v in b], 1.0) for i, b in _items(boxes)]
                    yield MultiStep(0, frame, prev)
                elif frame is None:
                    prev = [TargetStep(s.id, s.box, float("nan"), s.lost) for s in prev]
                    yield MultiStep(n, None, prev)
                else:
                    t0 = time.perf_counter()
                    prev = self.update(frame)
                    yield MultiStep(n, frame, prev, time.perf_counter() - t0)
        finally:
            frames.close()

    # ------------------------------------------------------------- internals
    def _id_list(self) -> str:
        return ", ".join(map(str, self.targets)) or "none"

    @staticmethod
    def _check_box(i: int, box, frame: np.ndarray) -> None:
        try:
            check_box(box, frame.shape)
        except SiamcanError as e:
            raise SiamcanError(f"target {i}: {e}") from None

    def _network(self, crops: np.ndarray, batch: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The maps of the targets ``batch`` (their crops ``crops``), in one engine call when it has ``track_batch``."""
        states = [self.targets[i].state for i in batch]

        def stacked():
            st = self._stacked
            if st is None or st[0] != batch or any(a is not b for a, b in zip(st[1], states)):
                st = self._stacked = (list(batch), states, self.engine.stack_states(states))
            return st[2]

        return crop_maps(self.engine, crops, states, self.cfg.score_size, stacked)

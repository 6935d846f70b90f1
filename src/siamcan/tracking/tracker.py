"""The SiamCAN tracker (SPEC §4): crop, network, cosine window, scale/ratio penalty, size smoothing, clipping."""
from __future__ import annotations

import math
import time
from typing import Iterator, NamedTuple

import numpy as np

from ..config import TrackerConfig
from ..errors import SiamcanError
from ..geometry import CropGeometry
from . import redetect
from .confidence import confidence, score_features
from .geometry import crop_patch, penalty_map, xywh_to_cxcywh
from .maps import check_map_size, decode_maps


def select_best(decoded, sizes: np.ndarray, window: np.ndarray, cfg: TrackerConfig) -> tuple[np.ndarray, np.ndarray]:
    """The scale/ratio penalty (N, S*S) and each target's chosen point (N,): penalised score blended with the cosine
    window, argmax. ``decoded`` from :func:`decode_maps`, ``sizes`` (N, 2) the targets' sizes in crop pixels."""
    score, _, _, pw, ph = decoded
    sizes = np.asarray(sizes, np.float64)
    penalty = penalty_map(pw, ph, sizes[:, :1], sizes[:, 1:], cfg.penalty_k)
    pscore = penalty * score
    pscore = pscore * (1 - cfg.window_influence) + window * cfg.window_influence
    return penalty, np.argmax(pscore, axis=1)


MAX_BOX_TO_FRAME = 2.0  # an init box may stick out of the frame, but not be more than twice its size
MIN_BOX_SIDE = 0.1  # px: a smaller init box has no context crop to scale (1e-300 divided by zero)


def check_box(box, frame_shape) -> tuple[float, float, float, float]:
    """Validate an [x, y, w, h] init box against a frame; raise SiamcanError naming the problem."""
    try:
        vals = [float(v) for v in box]
    except (TypeError, ValueError):
        raise SiamcanError(f"init box must be 4 numbers x,y,w,h, got {box!r}") from None
    if len(vals) != 4:
        raise SiamcanError(f"init box must have 4 values x,y,w,h, got {len(vals)}")
    x, y, w, h = vals
    if not all(math.isfinite(v) for v in vals):
        raise SiamcanError(f"init box has a non-finite value: {vals}")
    if w <= 0 or h <= 0:
        raise SiamcanError(f"init box must have positive width and height, got w={w:g}, h={h:g}")
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        raise SiamcanError(f"init box is too small: w={w:g}, h={h:g} (width and height must be at least "
                           f"{MIN_BOX_SIDE:g} px)")
    ih, iw = frame_shape[:2]
    if x + w <= 0 or y + h <= 0 or x >= iw or y >= ih:
        raise SiamcanError(f"init box {x:g},{y:g},{w:g},{h:g} lies outside the {iw}x{ih} frame")
    if w > MAX_BOX_TO_FRAME * iw or h > MAX_BOX_TO_FRAME * ih:  # its context crop would not fit in memory
        raise SiamcanError(f"init box {x:g},{y:g},{w:g},{h:g} is much larger than the {iw}x{ih} frame (width and "
                           f"height may be at most {MAX_BOX_TO_FRAME:g}x the frame's)")
    return x, y, w, h


def check_frame(frame) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        desc = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise SiamcanError(f"frame must be an HxWx3 uint8 BGR image, got {desc}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise SiamcanError(f"frame is too small: {frame.shape[1]}x{frame.shape[0]}")
    return frame


class Step(NamedTuple):
    """One frame of ``SiamCANTracker.track``: its 0-based index, the frame (None if it could not be decoded), the
    box ``[x, y, w, h]``, the score (the calibrated confidence that the box overlaps the target when the config has
    ``confidence_weights``, else the network's foreground probability; 1.0 on the init frame, NaN where the frame
    could not be decoded and the previous box is carried), the seconds ``update`` took (crop + network +
    post-processing; 0 where it did not run) and whether the tracker considers the target lost."""
    index: int
    frame: np.ndarray | None
    box: list[float]
    score: float
    seconds: float = 0.0
    lost: bool = False


class SiamCANTracker:
    """Single-object tracker: ``init(frame, box)`` then ``update(frame) -> (box, score)``.

    Boxes are ``[x, y, w, h]`` in pixels (top-left corner, 0-based), frames HxWx3 uint8 BGR.
    """

    def __init__(self, engine, cfg: TrackerConfig | None = None):
        self.engine = engine
        self.cfg = cfg or TrackerConfig()
        self.geometry = CropGeometry.from_config(self.cfg)
        self.points = self.geometry.offsets()
        self.window = self.geometry.window()
        self.state = None
        self.center = None
        self.size = None
        self.lost = False  # see _follow_confidence
        self.keep_features = False  # calibration: keep each frame's confidence features in self.features
        self.features = None

    # ------------------------------------------------------------------ API
    def init(self, frame: np.ndarray, box) -> None:
        frame = check_frame(frame)
        x, y, w, h = check_box(box, frame.shape)
        cx, cy, w, h = xywh_to_cxcywh([x, y, w, h])
        self.center = np.array([cx, cy])
        self.size = np.array([w, h])
        self.channel_average = frame.mean(axis=(0, 1))
        self.state = self.engine.template(self.template_crop(frame))
        self.lost, self.low = False, 0
        self.search = redetect.SearchState()  # re-detection and template memory (siamcan.tracking.redetect)
        redetect.prepare(self)

    def track(self, source, box, max_frames: int | None = None) -> Iterator[Step]:
        """Track ``box`` (in the first frame) through ``source``: a video file, a folder of images, a camera index
        (``0`` or ``"0"``), a stream URL (see ``siamcan.tracking.sources.FrameSource``) or any iterable of frames.

        Yields a ``Step`` per frame, the first frame included, reading frames lazily; stop early by breaking out of
        the loop."""
        from .sources import numbered_frames

        frames = numbered_frames(source, max_frames)
        try:
            prev = None
            for i, frame in frames:
                if i == 0:
                    self.init(frame, box)
                    prev = [float(v) for v in box]
                    yield Step(0, frame, prev, 1.0)
                elif frame is None:
                    yield Step(i, None, prev, float("nan"), 0.0, self.lost)
                else:
                    t0 = time.perf_counter()
                    prev, score = self.update(frame)
                    yield Step(i, frame, prev, score, time.perf_counter() - t0, self.lost)
        finally:
            frames.close()

    def template_crop(self, frame: np.ndarray) -> np.ndarray:
        """The template crop of the current state (at ``init``, and for template memory)."""
        s_z = round(self.geometry.context_size(self.size[0], self.size[1]))
        return crop_patch(frame, self.center, self.geometry.exemplar_size, max(s_z, 1), self.channel_average)

    def crop_scale(self) -> tuple[float, int]:
        """The scale of the crops at the current size (template crop px per frame px) and the side of a search crop
        in frame px: what the local search crop and every crop of re-detection use."""
        g = self.geometry
        s_z = g.context_size(self.size[0], self.size[1])
        return g.exemplar_size / s_z, max(round(s_z * g.search_scale), 1)

    def search_crop(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        scale_z, s_x = self.crop_scale()
        return crop_patch(frame, self.center, self.geometry.instance_size, s_x, self.channel_average), scale_z

    def update(self, frame: np.ndarray) -> tuple[list[float], float]:
        """The box ``[x, y, w, h]`` in ``frame`` and its confidence (see :class:`Step`)."""
        if self.state is None:
            raise SiamcanError("tracker.update() called before tracker.init()")
        frame = check_frame(frame)
        if self.lost and self.cfg.redetect:
            box, conf = self._search_lost(frame)
            if self.cfg.memory_size:
                redetect.remember(self, frame, conf)
            return box, conf
        return self.located(*self.predict(frame), frame)

    def predict(self, frame: np.ndarray):
        """What the network sees around the current state, without moving it: this target's decoded maps (score, box
        centre offsets and sizes per point, crop pixels; :func:`decode_maps`), the scale/ratio penalty, the chosen
        point and the crop's scale (the arguments of :meth:`located`, but the frame)."""
        x, scale_z = self.search_crop(frame)
        return self._choose(*self._network(x), scale_z)

    def _choose(self, cls: np.ndarray, loc: np.ndarray, scale_z: float):
        """:meth:`predict` from this target's maps: decoded, penalised, the point chosen."""
        decoded = self.decode(np.asarray(cls)[None], np.asarray(loc)[None])
        penalty, best = select_best(decoded, (self.size * scale_z)[None], self.window, self.cfg)
        return tuple(v[0] for v in decoded), penalty[0], int(best[0]), scale_z

    def located(self, decoded, penalty: np.ndarray, best: int, scale_z: float, frame: np.ndarray
                ) -> tuple[list[float], float]:
        """The rest of :meth:`update` once this target's maps are decoded and its point chosen (its row of
        :func:`decode_maps` / :func:`select_best`; :class:`~siamcan.tracking.multi.MultiTracker` runs those for all
        its targets at once): move there, the confidence, lost or not."""
        box, conf = self._step(decoded, penalty, best, scale_z, frame.shape)
        self._follow_confidence(conf)
        if self.cfg.memory_size:
            redetect.remember(self, frame, conf)
        return box, conf

    # ------------------------------------------------------------- internals
    def _network(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self.engine.track(crop, self.state)
        check_map_size(cls, loc, self.cfg.score_size)
        return cls, loc

    def decode(self, cls: np.ndarray, loc: np.ndarray):
        """:func:`decode_maps` of N crops' maps, (N, 2, S, S) and (N, 4, S, S), on this tracker's grid of points (the
        predicted distances bounded by ten search crops)."""
        return decode_maps(cls, loc, self.points, 10.0 * self.cfg.instance_size)

    def _confidence(self, score: np.ndarray, best: int) -> float:
        w = self.cfg.confidence_weights
        if self.keep_features or w:
            self.features = score_features(score, best)
        if not w:
            return float(score[best])
        return confidence(self.features, w)

    def postprocess(self, cls: np.ndarray, loc: np.ndarray, scale_z: float, frame_shape) -> tuple[list[float], float]:
        """Move to the point this target's maps choose; the box and confidence (no lost bookkeeping)."""
        return self._step(*self._choose(cls, loc, scale_z), frame_shape)

    def _step(self, decoded, penalty: np.ndarray, best: int, scale_z: float, frame_shape) -> tuple[list[float], float]:
        """Move to point ``best`` of this target's decoded maps (size smoothed, clipped); the box and confidence."""
        c = self.cfg
        score, pcx, pcy, pw, ph = decoded
        bx, by = pcx[best] / scale_z, pcy[best] / scale_z
        bw, bh = pw[best] / scale_z, ph[best] / scale_z
        if c.size_gain != 1.0:  # extrapolate the change of scale (not of aspect) by size_gain
            k = (bw * bh / (self.size[0] * self.size[1])) ** (0.5 * (c.size_gain - 1.0))
            bw, bh = bw * k, bh * k
        lr = 0.0 if (self.lost and c.hold_size_lost) else penalty[best] * score[best] * c.lr
        self._move(bx + self.center[0], by + self.center[1], self.size[0] * (1 - lr) + bw * lr,
                   self.size[1] * (1 - lr) + bh * lr, frame_shape)
        return self._box(frame_shape), self._confidence(score, best)

    def _move(self, cx: float, cy: float, width: float, height: float, frame_shape) -> None:
        """The new state, clipped to the frame as pysot does; NaN/inf never propagate."""
        c = self.cfg
        ih, iw = frame_shape[:2]
        cx = min(max(cx, 0.0), iw)
        cy = min(max(cy, 0.0), ih)
        width = max(min(width, iw), c.min_size)  # pysot's order: at least min_size even in a tiny frame
        height = max(min(height, ih), c.min_size)
        if not all(math.isfinite(v) for v in (cx, cy, width, height)):
            cx, cy = self.center
            width, height = self.size
        self.center = np.array([cx, cy])
        self.size = np.array([width, height])

    def _box(self, frame_shape) -> list[float]:
        """The reported box of the state; with ``clip_box`` its part inside the frame (never empty: the centre is
        kept inside the frame and the size is at least ``min_size``)."""
        (cx, cy), (width, height) = self.center, self.size
        x, y = cx - width / 2, cy - height / 2
        if self.cfg.clip_box:
            ih, iw = frame_shape[:2]
            x2, y2 = min(x + width, iw), min(y + height, ih)
            x, y = max(x, 0.0), max(y, 0.0)
            width, height = x2 - x, y2 - y
        return [float(v) for v in (x, y, width, height)]

    # ------------------------------------------------------------- lost target (issues 20, 25)
    def _follow_confidence(self, conf: float) -> None:
        """``lost_frames`` low-confidence frames in a row (below ``lost_threshold``): the target is lost. It is found
        again at the next frame whose confidence reaches ``lost_threshold`` (without re-detection) or
        ``found_threshold`` (with it: :meth:`_search_lost` runs until then)."""
        c = self.cfg
        if not c.confidence_weights:
            return
        if conf >= (c.found_threshold if self.lost and c.redetect else c.lost_threshold):
            self.low, self.lost = 0, False
            return
        if conf >= c.lost_threshold:
            self.low = 0
            return
        self.low += 1
        if self.low >= c.lost_frames and not self.lost:
            self.lost = True
            self.search.pending, self.search.lost_for = None, 0

    def _search_lost(self, frame: np.ndarray) -> tuple[list[float], float]:
        """One frame while the target is lost, with re-detection: the local tracker goes on as usual (the box is
        never frozen) and :func:`siamcan.tracking.redetect.search` looks over the whole frame; a confirmed far
        candidate that scores above the local box takes the state there."""
        x, scale_z = self.search_crop(frame)
        box, conf = self.postprocess(*self._network(x), scale_z, frame.shape)
        if conf >= self.cfg.found_threshold and not redetect.verify(self, frame, self.center):
            # the remembered templates disagree (a look-alike): still lost, and the whole-frame search goes on
            conf = min(conf, float(np.nextafter(self.cfg.lost_threshold, 0.0)))
        cand = redetect.search(self, frame, conf)
        if cand is not None:
            lr = cand.score * self.cfg.lr
            self._move(cand.cx, cand.cy, self.size[0] * (1 - lr) + cand.w * lr, self.size[1] * (1 - lr) + cand.h * lr,
                       frame.shape)
            box, conf = self._box(frame.shape), cand.conf
        self._follow_confidence(conf)
        return box, conf

"""Re-detection of a lost target and template memory (issues 20 and 25).

While the tracker considers the target lost (see ``SiamCANTracker._follow_confidence``), each frame it

* keeps tracking locally as usual (the box is never frozen: where the target is still there, the local tracker goes
  on following it), and
* searches the whole frame: search crops at the tracker's scale whose score grids cover the frame side by side
  (``tiles``; at most ``redetect_tiles`` of them a frame, the rest of the frame on the next frames), each scored
  with the scale penalty but without the cosine window, plus one crop centred on the last frame's best far-away
  candidate (a target at the edge of a tile scores low there). These crops go through the network in one batched
  call against the first template's features, computed once at ``init`` (:func:`score_crops`, :func:`batch_sizes`).

The target is found again when the local box's confidence reaches ``found_threshold`` (``>= lost_threshold``: a
hysteresis), or when a far-away candidate, the best one on two frames in a row at one place, reaches it on the second
(re-centred) crop and scores above the local box. The whole-frame search runs only once the target has been lost for
``redetect_after`` frames and while the local box's confidence is below ``lost_threshold``: a target lost for a
moment, or one the local box holds again with some confidence, is most likely still there, and a look-alike
elsewhere must not take the box (val's zebrafish: another fish scores higher than the target itself), and (with template memory) the remembered templates agree: the tracker then moves there.

Template memory (``memory_size`` > 0): besides the first template, the tracker keeps the template crops of up to
``memory_size`` frames whose confidence was at least ``memory_threshold`` (at least ``memory_gap`` frames apart, the
oldest dropped first). Storing one is a 127x127 crop copy; its features are computed only when a candidate has to be
verified, so frames where the target is not lost do the same work as without memory. A candidate - a far one, or the
local box when its confidence reaches ``found_threshold`` - is taken only when the mean confidence that the
remembered templates give it is at least ``found_threshold`` too (a look-alike that the first template likes but the
later views of the target do not is left).

Nothing here runs while the target is not lost (except storing a memory crop, at most every ``memory_gap`` frames).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .confidence import confidence, score_features
from .geometry import crop_patch, penalty_map
from .maps import crop_maps


@dataclass
class Candidate:
    conf: float  # calibrated confidence under the first template
    cx: float  # centre and size in frame pixels
    cy: float
    w: float
    h: float
    score: float  # the network's foreground probability at the chosen point


@dataclass
class SearchState:
    """What re-detection remembers between frames (reset at ``init``)."""
    pending: tuple[float, float] | None = None  # last frame's best far candidate (re-scored centred on it)
    sweep: int = 0  # next tile of the sweep over the frame
    memory: list = field(default_factory=list)  # [frame index, template crop, template state or None]
    last_memory: int = -10 ** 9  # frame index of the last stored template
    frame: int = 0  # frames seen since init
    lost_for: int = 0  # lost frames so far (reset when the target is declared lost)
    tiles: int = 0  # crops scored for the search so far (for the benchmark)
    verified: int = 0  # crops scored for memory verification so far
    stacked: dict = field(default_factory=dict)  # batched template states (see stacked_state)


def tiles(geometry, frame_shape, s_x: float, near) -> list[np.ndarray]:
    """Search-crop centres whose score grids cover the whole frame side by side, nearest to ``near`` first."""
    g = geometry
    span = max((g.score_size - 1) * g.stride * s_x / g.instance_size, 1.0)  # image px the grid covers
    ih, iw = frame_shape[:2]
    nx, ny = max(math.ceil(iw / span), 1), max(math.ceil(ih / span), 1)
    # the fewest grids that cover the frame, spread evenly over it
    xs = (np.arange(nx) + 0.5) * iw / nx
    ys = (np.arange(ny) + 0.5) * ih / ny
    centres = np.array([(x, y) for y in ys for x in xs])
    order = np.argsort(np.hypot(*(centres - np.asarray(near, float)).T), kind="stable")
    return [centres[i] for i in order]


def score_crops(tracker, frame: np.ndarray, centres, s_x: int, scale_z: float, memory: bool = False
                ) -> list[Candidate]:
    """The best point of the search crops at ``centres`` (scale penalty, no cosine window), each with its confidence:
    under the first template, or (``memory``) crop ``i`` under the ``i``-th remembered template. The crops go
    through the network in one call where the engine takes batches (``track_batch``, the templates' states stacked
    once and kept in :class:`SearchState`) and their number is one of :func:`batch_sizes`; otherwise one call
    each (the same numbers, float rounding of the batched convolutions aside)."""
    c, g = tracker.cfg, tracker.geometry
    crops = np.stack([crop_patch(frame, ctr, g.instance_size, s_x, tracker.channel_average) for ctr in centres])
    n = len(crops)
    if memory:
        states = [entry[2] for entry in tracker.search.memory]
    else:
        states = [tracker.state] * n
    batched = (lambda: stacked_state(tracker, states, memory)) if n in batch_sizes(c) else None
    cls, loc = crop_maps(tracker.engine, crops, states, c.score_size, batched)
    score, pcx, pcy, pw, ph = tracker.decode(cls, loc)
    pscore = penalty_map(pw, ph, tracker.size[0] * scale_z, tracker.size[1] * scale_z, c.penalty_k) * score
    out = []
    for i, ctr in enumerate(centres):
        k = int(np.argmax(pscore[i]))
        conf = confidence(score_features(score[i], k), c.confidence_weights)
        out.append(Candidate(conf, ctr[0] + pcx[i, k] / scale_z, ctr[1] + pcy[i, k] / scale_z, pw[i, k] / scale_z,
                             ph[i, k] / scale_z, float(score[i, k])))
    return out


def stacked_state(tracker, states: list, memory: bool):
    """The batched state of ``states`` (the engine's ``stack_states``), made once per batch size for the first
    template and once per set of remembered templates, not on every lost frame (and, on CUDA, the same tensors each
    time, so the fast engine's recorded graph is replayed, not recorded again)."""
    s = tracker.search
    key = ("memory", tuple(entry[0] for entry in s.memory)) if memory else ("first", len(states))
    if key not in s.stacked:
        if memory:  # a new set of remembered templates: the previous set's stack is not needed any more
            for old in [k for k in s.stacked if k[0] == "memory"]:
                del s.stacked[old]
        s.stacked[key] = tracker.engine.stack_states(states)
    return s.stacked[key]


def batch_sizes(cfg) -> set[int]:
    """The batch sizes a lost frame runs as one network call: the tiles, the tiles plus the re-centred crop, and the
    remembered templates (verification, once memory is full). They are set up at ``init`` (:func:`prepare`). A frame
    that needs another size - fewer tiles, when the target is about as large as the frame, or a memory still filling
    up - runs its crops one call each: no engine builds a graph in the middle of a video (ONNX Runtime: one graph per
    size, ~0.4 s each), and the fast engine on CUDA keeps one recorded graph per size (``FastEngine.GRAPHS``)."""
    sizes = {cfg.redetect_tiles, cfg.redetect_tiles + 1, cfg.memory_size}
    return {n for n in sizes if n > 1}


def prepare(tracker) -> None:
    """Ready the engine for this tracker's whole-frame search (with re-detection on): engines that build one graph
    per batch size (ONNX Runtime: ~0.4 s each, once per engine) build those of :func:`batch_sizes` now, at ``init``,
    rather than in the middle of a video at the first lost frame."""
    c, e = tracker.cfg, tracker.engine
    if c.redetect and hasattr(e, "prepare_batch") and hasattr(e, "track_batch"):
        for n in sorted(batch_sizes(c)):
            e.prepare_batch(n)


def remember(tracker, frame: np.ndarray, conf: float) -> None:
    """Keep this frame's template crop when the confidence vouches for it (template memory)."""
    c, s = tracker.cfg, tracker.search
    s.frame += 1
    if c.memory_size <= 0 or conf < c.memory_threshold or s.frame - s.last_memory < c.memory_gap:
        return
    s.memory.append([s.frame, tracker.template_crop(frame), None])
    s.last_memory = s.frame
    if len(s.memory) > c.memory_size:
        s.memory.pop(0)


def verify(tracker, frame: np.ndarray, centre) -> bool:
    """Do the remembered templates agree that the target is at ``centre``? (True without memory.) Their mean
    confidence on a search crop there must reach ``found_threshold``."""
    s = tracker.search
    if not s.memory:
        return True
    scale_z, s_x = tracker.crop_scale()
    for entry in s.memory:
        if entry[2] is None:
            entry[2] = tracker.engine.template(entry[1])
    confs = [cand.conf for cand in score_crops(tracker, frame, [centre] * len(s.memory), s_x, scale_z, memory=True)]
    s.verified += len(confs)
    return float(np.mean(confs)) >= tracker.cfg.found_threshold


def search(tracker, frame: np.ndarray, local_conf: float) -> Candidate | None:
    """One frame of the whole-frame search; the far candidate to move to, once confirmed, else None."""
    c, g, s = tracker.cfg, tracker.geometry, tracker.search
    s.lost_for += 1
    if s.lost_for < c.redetect_after or local_conf >= c.lost_threshold:
        # lost only a moment ago, or the local box is not unconfident now: the target is most likely still near it
        # (a short-term dip; a look-alike elsewhere must not take the box), so nothing is searched this frame
        s.pending = None
        return None
    scale_z, s_x = tracker.crop_scale()
    grid = tiles(g, frame.shape, s_x, tracker.center)
    # last frame's best far candidate, re-scored on a crop centred on it (a target at the edge of a tile scores low
    # there), then the next tiles of the sweep
    picks = [np.array(s.pending)] if s.pending is not None else []
    n = min(c.redetect_tiles, len(grid))
    picks += [grid[(s.sweep + k) % len(grid)] for k in range(n)]
    s.sweep = (s.sweep + n) % len(grid)
    near = 0.5 * max(tracker.size)
    best = None
    for cand in score_crops(tracker, frame, picks, s_x, scale_z):  # one network call where the engine batches
        s.tiles += 1
        if math.hypot(cand.cx - tracker.center[0], cand.cy - tracker.center[1]) <= near:
            continue  # the local box itself: the local tracker has it
        if best is None or cand.conf > best.conf:
            best = cand
    previous, s.pending = s.pending, (None if best is None else (best.cx, best.cy))
    if best is None or best.conf < c.found_threshold or best.conf <= local_conf or previous is None:
        return None
    # found when it was last frame's best far candidate too (at one place on two frames in a row)
    if math.hypot(best.cx - previous[0], best.cy - previous[1]) <= near and verify(tracker, frame, (best.cx, best.cy)):
        s.pending = None
        return best
    return None


def lost_states(confidences, cfg) -> np.ndarray:
    """The tracker's ``lost`` flag frame by frame, replayed from the confidences it reported (an eval's
    ``<seq>_confidence.value``) with the config's thresholds: the same rule as ``SiamCANTracker._follow_confidence``
    (``lost_frames`` in a row below ``lost_threshold``; found again at ``lost_threshold``, or with re-detection at
    ``found_threshold``). Frames without a confidence (NaN: the init frame, an undecodable frame) change nothing."""
    out = np.zeros(len(confidences), bool)
    if not cfg.confidence_weights:
        return out
    lost, low = False, 0
    for i, conf in enumerate(np.asarray(confidences, float)):
        if not math.isnan(conf):
            if conf >= (cfg.found_threshold if lost and cfg.redetect else cfg.lost_threshold):
                lost, low = False, 0
            elif conf >= cfg.lost_threshold:
                low = 0
            else:
                low += 1
                lost = lost or low >= cfg.lost_frames
        out[i] = lost
    return out

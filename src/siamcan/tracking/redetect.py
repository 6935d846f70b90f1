"""Re-detection of a lost target and template memory (issues 20 and 25).

While the tracker considers the target lost (see ``SiamCANTracker._follow_confidence``), each frame it

* keeps tracking locally as usual (the box is never frozen: where the target is still there, the local tracker goes
  on following it), and
* searches the whole frame: search crops at the tracker's scale whose score grids cover the frame side by side
  (``tiles``; at most ``redetect_tiles`` of them a frame, the rest of the frame on the next frames), each scored
  with the scale penalty but without the cosine window, plus one crop centred on the last frame's best far-away
  candidate (a target at the edge of a tile scores low there).

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
    tiles: int = 0  # network runs for the search so far (for the benchmark)
    verified: int = 0  # network runs for memory verification so far


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


def best_candidate(tracker, frame: np.ndarray, centre, s_x: int, scale_z: float, state=None) -> Candidate:
    """The best point of one search crop at ``centre`` (scale penalty, no cosine window), with its confidence."""
    c, g = tracker.cfg, tracker.geometry
    crop = crop_patch(frame, centre, g.instance_size, s_x, tracker.channel_average)
    cls, loc = tracker._network(crop) if state is None else tracker.engine.track(crop, state)
    score, pcx, pcy, pw, ph = tracker._decode(cls, loc)
    pscore = penalty_map(pw, ph, tracker.size[0] * scale_z, tracker.size[1] * scale_z, c.penalty_k) * score
    k = int(np.argmax(pscore))
    conf = confidence(score_features(score, k), c.confidence_weights)
    return Candidate(conf, centre[0] + pcx[k] / scale_z, centre[1] + pcy[k] / scale_z, pw[k] / scale_z,
                     ph[k] / scale_z, float(score[k]))


def remember(tracker, frame: np.ndarray, conf: float) -> None:
    """Keep this frame's template crop when the confidence vouches for it (template memory)."""
    c, s = tracker.cfg, tracker.search
    s.frame += 1
    if c.memory_size <= 0 or conf < c.memory_threshold or s.frame - s.last_memory < c.memory_gap:
        return
    g = tracker.geometry
    s_z = round(g.context_size(tracker.size[0], tracker.size[1]))
    z = crop_patch(frame, tracker.center, c.exemplar_size, max(s_z, 1), tracker.channel_average)
    s.memory.append([s.frame, z, None])
    s.last_memory = s.frame
    if len(s.memory) > c.memory_size:
        s.memory.pop(0)


def verify(tracker, frame: np.ndarray, centre) -> bool:
    """Do the remembered templates agree that the target is at ``centre``? (True without memory.) Their mean
    confidence on a search crop there must reach ``found_threshold``."""
    s, g = tracker.search, tracker.geometry
    if not s.memory:
        return True
    s_z = g.context_size(tracker.size[0], tracker.size[1])
    scale_z = g.exemplar_size / s_z
    s_x = max(round(s_z * g.search_scale), 1)
    confs = []
    for entry in s.memory:
        if entry[2] is None:
            entry[2] = tracker.engine.template(entry[1])
        confs.append(best_candidate(tracker, frame, centre, s_x, scale_z, entry[2]).conf)
        s.verified += 1
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
    s_z = g.context_size(tracker.size[0], tracker.size[1])
    scale_z = g.exemplar_size / s_z
    s_x = max(round(s_z * g.search_scale), 1)
    grid = tiles(g, frame.shape, s_x, tracker.center)
    # last frame's best far candidate, re-scored on a crop centred on it (a target at the edge of a tile scores low
    # there), then the next tiles of the sweep
    picks = [np.array(s.pending)] if s.pending is not None else []
    n = min(c.redetect_tiles, len(grid))
    picks += [grid[(s.sweep + k) % len(grid)] for k in range(n)]
    s.sweep = (s.sweep + n) % len(grid)
    near = 0.5 * max(tracker.size)
    best = None
    for centre in picks:
        cand = best_candidate(tracker, frame, centre, s_x, scale_z)
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

"""Lost state and re-detection (issue 20) with a stand-in network that sees a white square: the tracker declares the
target lost after ``lost_frames`` unconfident frames, finds it again anywhere in the frame with re-detection, and
does not jump to a target seen on a single frame."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from siamcan.config import TrackerConfig
from siamcan.geometry import CropGeometry
from siamcan.tracking.tracker import SiamCANTracker

GEO = CropGeometry(stride=16, score_size=15)
SIDE = 40


class SquareEngine:
    """Scores the grid point nearest to the white square in the crop (logit +4, elsewhere -3), boxes = the square;
    no square: every point -3. Counts its calls."""

    def __init__(self):
        self.calls = 0
        self.grid = GEO.grid()

    def template(self, crop):
        return "template"

    def track(self, crop, state):
        self.calls += 1
        s = GEO.score_size
        cls = np.zeros((2, s, s))
        cls[1] = -3.0
        ys, xs = np.nonzero(crop[..., 0] > 200)
        px, py = np.meshgrid(self.grid, self.grid)
        if len(xs) < 4:
            return cls, np.full((4, s, s), 20.0)
        x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        i, j = np.argmin(np.abs(self.grid - cy)), np.argmin(np.abs(self.grid - cx))
        cls[1, i, j] = 4.0
        loc = np.stack([px - x1, py - y1, x2 - px, y2 - py]).astype(float)
        return cls, loc


def frame(pos=None) -> np.ndarray:
    f = np.full((480, 640, 3), 40, np.uint8)
    if pos is not None:
        x, y = pos
        f[y:y + SIDE, x:x + SIDE] = 255
    return f


CONF = (-10.0, 20.0, 0.0, 0.0, 0.0, 0.0)  # confidence = sigmoid(20 peak - 10): ~1 on the square, ~0 elsewhere


def run(frames, **cfg):
    engine = SquareEngine()
    tcfg = TrackerConfig(stride=16, score_size=15, window_influence=0.3, penalty_k=0.05, lr=0.5,
                         confidence_weights=CONF, **cfg)
    tr = SiamCANTracker(engine, tcfg)
    tr.init(frames[0], [100, 100, SIDE, SIDE])
    out = [tr.update(f) + (tr.lost,) for f in frames[1:]]
    return out, engine


def centre(box):
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


def test_lost_after_low_frames_and_found_again_elsewhere():
    far = (460, 330)
    frames = [frame((100, 100))] * 6 + [frame()] * 8 + [frame(far)] * 10
    plain, _ = run(frames, redetect=False, lost_frames=3)
    lost = [x[2] for x in plain]
    assert not any(lost[:5]) and lost[5] is False and lost[6] is False and lost[7] is True  # 3rd low frame
    assert all(lost[7:])  # without re-detection the far target is never found (outside the local search)
    assert np.linalg.norm(centre(plain[-1][0]) - (far[0] + 20, far[1] + 20)) > 100
    assert plain[0][1] > 0.99 and plain[6][1] < 0.01  # confident on the square, not on the empty frame

    found, engine = run(frames, redetect=True, lost_frames=3, redetect_tiles=6, found_threshold=0.7)
    lost = [x[2] for x in found]
    back = lost.index(False, 13)  # the first frame after the target reappears (index 13) that is not lost
    assert back <= 13 + 6  # a sweep of the 640x480 frame takes a few frames, then one frame to confirm
    assert not any(lost[back:])
    assert np.linalg.norm(centre(found[-1][0]) - (far[0] + 20, far[1] + 20)) < 3
    # while lost on empty frames the local tracker has nothing to follow: the box stays where the target was last seen
    assert np.linalg.norm(centre(found[10][0]) - (120, 120)) < 3
    assert engine.calls > len(frames)  # tiles were searched


def test_one_lucky_frame_is_not_enough():
    frames = [frame((100, 100))] * 4 + [frame()] * 5 + [frame((460, 330))] + [frame()] * 4
    out, _ = run(frames, redetect=True, lost_frames=2, redetect_tiles=40)  # 40 tiles: the whole frame at once
    assert all(x[2] for x in out[5:])  # seen on one frame only: still lost afterwards


def test_without_confidence_weights_nothing_changes():
    frames = [frame((100, 100))] * 3 + [frame()] * 5
    engine = SquareEngine()
    tr = SiamCANTracker(engine, TrackerConfig(stride=16, score_size=15, redetect=True))
    tr.init(frames[0], [100, 100, SIDE, SIDE])
    for f in frames[1:]:
        _, score = tr.update(f)
        assert not tr.lost
    assert engine.calls == len(frames) - 1  # one network run per frame: the plain tracker
    assert score == pytest.approx(1 / (1 + np.exp(3)))  # the network's probability at the chosen point


def test_config_checks():
    with pytest.raises(Exception, match="confidence_weights"):
        TrackerConfig(confidence_weights=(1.0, 2.0))
    with pytest.raises(Exception, match="lost_frames"):
        dataclasses.replace(TrackerConfig(), lost_frames=0)

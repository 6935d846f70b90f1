"""The tracker against SPEC §4: point grid, window, penalty, post-processing, crops, template caching, public API."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import siamcan
from siamcan.config import TrackerConfig
from siamcan.errors import SiamcanError
from siamcan.geometry import CropGeometry, context_size
from siamcan.tracking.engine import TorchEngine
from siamcan.tracking.geometry import crop_patch, cxcywh_to_xywh, penalty_map, xywh_to_cxcywh
from siamcan.tracking.sources import FrameSource
from siamcan.tracking.tracker import SiamCANTracker

pytestmark = pytest.mark.usefixtures("one_thread")  # steadier on shared cores


# ------------------------------------------------------------------------------------ reference crop
def reference_subwindow(im: np.ndarray, pos, model_sz: int, original_sz: int, avg_chans) -> np.ndarray:
    """A direct reimplementation of pysot's ``get_subwindow`` (pad the image with the mean, then slice)."""
    sz = original_sz
    r, c, k = im.shape
    half = (original_sz + 1) / 2
    xmin = math.floor(pos[0] - half + 0.5)
    xmax = xmin + sz - 1
    ymin = math.floor(pos[1] - half + 0.5)
    ymax = ymin + sz - 1
    left, top = int(max(0, -xmin)), int(max(0, -ymin))
    right, bottom = int(max(0, xmax - c + 1)), int(max(0, ymax - r + 1))
    xmin, xmax, ymin, ymax = xmin + left, xmax + left, ymin + top, ymax + top
    if any([top, bottom, left, right]):
        te = np.zeros((r + top + bottom, c + left + right, k), np.uint8)
        te[top:top + r, left:left + c, :] = im
        if top:
            te[0:top, left:left + c, :] = avg_chans
        if bottom:
            te[r + top:, left:left + c, :] = avg_chans
        if left:
            te[:, 0:left, :] = avg_chans
        if right:
            te[:, c + left:, :] = avg_chans
        patch = te[int(ymin):int(ymax + 1), int(xmin):int(xmax + 1), :]
    else:
        patch = im[int(ymin):int(ymax + 1), int(xmin):int(xmax + 1), :]
    if model_sz != original_sz:
        patch = cv2.resize(patch, (model_sz, model_sz))
    return patch


def test_crop_equals_pysot_get_subwindow(rng):
    cases = 0
    for _ in range(150):
        h, w = int(rng.integers(20, 120)), int(rng.integers(20, 120))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        avg = img.mean(axis=(0, 1))
        sz = int(rng.integers(1, 200))
        # centres inside, on the border and well outside the image
        cx, cy = rng.uniform(-0.8 * w, 1.8 * w), rng.uniform(-0.8 * h, 1.8 * h)
        out = int(rng.choice([127, 255, sz]))
        got = crop_patch(img, (cx, cy), out, sz, avg)
        want = reference_subwindow(img, (cx, cy), out, sz, avg)
        assert got.shape == (out, out, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
        cases += 1
    # the exact-border cases: crop flush with each image edge and a crop entirely outside
    img = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    avg = img.mean(axis=(0, 1))
    for center in [(10.0, 10.0), (59.0, 49.0), (0.0, 0.0), (-100.0, 30.0), (30.0, 200.0), (29.5, 24.5)]:
        for sz in (1, 20, 21, 60, 200):
            np.testing.assert_array_equal(crop_patch(img, center, 127, sz, avg),
                                          reference_subwindow(img, center, 127, sz, avg))


# ------------------------------------------------------------------------------------- grid, window
def test_point_grid():
    pts = CropGeometry().points()
    assert pts.shape == (2, 25, 25)
    i = np.arange(25)
    np.testing.assert_array_equal(pts[0, 0], 31 + 8 * i)  # x along columns
    np.testing.assert_array_equal(pts[1, :, 0], 31 + 8 * i)  # y along rows
    rel = CropGeometry().offsets()
    assert rel.shape == (625, 2) and rel.min() == -96 and rel.max() == 96
    np.testing.assert_array_equal(rel[:25, 0], -96 + 8 * i)  # row-major: x varies fastest
    assert (rel[:25, 1] == -96).all()
    assert 255 // 2 - 12 * 8 == 31
    # siamcan-nano / NanoTrack v3: 15 points 16 px apart, 15 + 16 i
    np.testing.assert_array_equal(CropGeometry(stride=16, score_size=15).grid(), 15 + 16 * np.arange(15))


def test_hanning_window_values():
    win = CropGeometry().window().reshape(25, 25)
    h = [0.5 - 0.5 * math.cos(2 * math.pi * k / 24) for k in range(25)]
    assert win[12, 12] == pytest.approx(1.0)
    assert win[0, 0] == 0.0 and win[0, 12] == 0.0 and win[24, 24] == pytest.approx(0.0, abs=1e-15)
    assert win[6, 12] == pytest.approx(0.5)  # h[6] = 0.5 - 0.5 cos(pi/2)
    assert win[6, 6] == pytest.approx(0.25)
    assert win[3, 17] == pytest.approx(h[3] * h[17])
    np.testing.assert_allclose(win, np.outer(h, h), atol=1e-15)


# -------------------------------------------------------------------------------------------- penalty
def test_penalty_hand_computed():
    k = 0.14
    w, h = 40.0, 20.0
    same = penalty_map(np.array([w]), np.array([h]), w, h, k)
    assert same[0] == pytest.approx(1.0)
    double = penalty_map(np.array([2 * w]), np.array([2 * h]), w, h, k)
    assert double[0] == pytest.approx(math.exp(-(2 - 1) * k))
    half = penalty_map(np.array([w / 2]), np.array([h / 2]), w, h, k)
    assert half[0] == pytest.approx(math.exp(-(2 - 1) * k))
    # aspect-ratio change: 10x10 target, prediction 20x10
    sz = lambda a, b: math.sqrt((a + (a + b) / 2) * (b + (a + b) / 2))  # noqa: E731
    s_c = max(sz(20, 10) / sz(10, 10), sz(10, 10) / sz(20, 10))
    assert sz(10, 10) == 20.0 and sz(20, 10) == pytest.approx(math.sqrt(875))
    r_c = 2.0  # (10/10) / (20/10) = 0.5 -> max(0.5, 2)
    got = penalty_map(np.array([20.0]), np.array([10.0]), 10.0, 10.0, k)[0]
    assert got == pytest.approx(math.exp(-(r_c * s_c - 1) * k))
    assert penalty_map(np.array([80.0]), np.array([3.0]), 10.0, 10.0, 0.0)[0] == 1.0  # k = 0: no penalty


def test_context_and_box_conversions():
    assert context_size(37, 69) == pytest.approx(math.sqrt((37 + 53) * (69 + 53)))
    np.testing.assert_allclose(xywh_to_cxcywh([264, 311, 37, 69]), [264 + 18, 311 + 34, 37, 69])
    np.testing.assert_allclose(cxcywh_to_xywh(xywh_to_cxcywh([1.5, -2, 10, 7])), [1.5, -2, 10, 7])


# ----------------------------------------------------------------------------- post-processing by hand
class MapEngine:
    """A fake engine returning fixed maps (and recording the crops it was given)."""

    name = "maps"

    def __init__(self, cls: np.ndarray, loc: np.ndarray):
        self.cls, self.loc = cls, loc
        self.crops: list[np.ndarray] = []

    def template(self, crop):
        self.crops.append(crop)
        return ()

    def track(self, crop, state):
        self.crops.append(crop)
        return self.cls, self.loc


def test_update_hand_computed():
    cfg = TrackerConfig(window_influence=0.0, penalty_k=0.0, lr=0.3)
    cls = np.zeros((2, 25, 25), np.float32)
    cls[1, 13, 14] = 10.0  # best point: row 13, col 14 -> offset (+16, +8) crop pixels from the centre
    loc = np.full((4, 25, 25), 20.0, np.float32)
    loc[:, 13, 14] = [30.0, 10.0, 50.0, 30.0]  # l, t, r, b -> box centre offset (+10, +10), size 80 x 40
    eng = MapEngine(cls, loc)
    tr = SiamCANTracker(eng, cfg)
    frame = np.full((400, 500, 3), 90, np.uint8)
    x, y, w, h = 200.0, 150.0, 41.0, 21.0
    tr.init(frame, [x, y, w, h])
    assert eng.crops[0].shape == (127, 127, 3)
    box, score = tr.update(frame)
    assert eng.crops[1].shape == (255, 255, 3)

    cx0, cy0 = x + (w - 1) / 2, y + (h - 1) / 2
    s_z = math.sqrt((w + 31) * (h + 31))
    scale = 127 / s_z
    p = 1 / (1 + math.exp(-10))  # softmax of (0, 10)
    lr = 1.0 * p * 0.3  # penalty 1 with k = 0
    cx = cx0 + (16 + 10) / scale
    cy = cy0 + (8 + 10) / scale
    bw, bh = 80 / scale, 40 / scale
    nw, nh = w * (1 - lr) + bw * lr, h * (1 - lr) + bh * lr
    assert score == pytest.approx(p)
    assert box == pytest.approx([cx - nw / 2, cy - nh / 2, nw, nh], rel=1e-9)


def test_size_gain_hand_computed():
    """size_gain g: the predicted change of scale is extrapolated, pred * (pred / size)^(g - 1) in sqrt(w h), aspect
    as predicted, then smoothed with lr as before (issue 25's candidate S1)."""
    cls = np.zeros((2, 25, 25), np.float32)
    cls[1, 12, 12] = 10.0  # the centre point
    loc = np.full((4, 25, 25), 20.0, np.float32)
    loc[:, 12, 12] = [40.0, 20.0, 40.0, 20.0]  # an 80 x 40 box at the centre
    frame = np.full((400, 500, 3), 90, np.uint8)
    w, h = 41.0, 21.0
    boxes = {}
    for g in (1.0, 3.0):
        tr = SiamCANTracker(MapEngine(cls, loc), TrackerConfig(window_influence=0.0, penalty_k=0.0, lr=0.3,
                                                                 size_gain=g))
        tr.init(frame, [200.0, 150.0, w, h])
        boxes[g] = tr.update(frame)[0]
    scale = 127 / math.sqrt((w + 31) * (h + 31))
    bw, bh = 80 / scale, 40 / scale
    k = (bw * bh / (w * h)) ** (0.5 * (3.0 - 1.0))
    lr = 0.3 / (1 + math.exp(-10))
    assert boxes[1.0][2:] == pytest.approx([w * (1 - lr) + bw * lr, h * (1 - lr) + bh * lr], rel=1e-9)
    assert boxes[3.0][2:] == pytest.approx([w * (1 - lr) + bw * k * lr, h * (1 - lr) + bh * k * lr], rel=1e-9)


def test_clip_box_reports_the_visible_part_and_keeps_the_state():
    cls = np.zeros((2, 25, 25), np.float32)
    cls[1, 12, 12] = 10.0
    loc = np.full((4, 25, 25), 20.0, np.float32)
    frame = np.zeros((100, 120, 3), np.uint8)
    init = [-10.0, 70.0, 40.0, 40.0]  # reaches past the left and bottom borders
    steps = {}
    for clip in (False, True):
        tr = SiamCANTracker(MapEngine(cls, loc), TrackerConfig(window_influence=0.0, penalty_k=0.0, clip_box=clip))
        tr.init(frame, init)
        box, _ = tr.update(frame)
        steps[clip] = (box, tr.center.copy(), tr.size.copy())
    (free, c0, s0), (clipped, c1, s1) = steps[False], steps[True]
    assert np.array_equal(c0, c1) and np.array_equal(s0, s1)  # the state is the same
    x, y, w, h = free
    assert x < 0 and y + h > 100  # the unclipped box reaches past the borders
    assert clipped == pytest.approx([0.0, y, x + w, 100 - y], rel=1e-12)


def test_hold_size_lost_keeps_the_size_and_moves_the_centre():
    cls = np.zeros((2, 25, 25), np.float32)
    cls[1, 13, 14] = 10.0  # off-centre point
    loc = np.full((4, 25, 25), 20.0, np.float32)
    loc[:, 13, 14] = [30.0, 10.0, 50.0, 30.0]
    frame = np.full((400, 500, 3), 90, np.uint8)
    out = {}
    for hold in (False, True):
        tr = SiamCANTracker(MapEngine(cls, loc), TrackerConfig(window_influence=0.0, penalty_k=0.0, lr=0.3,
                                                                 hold_size_lost=hold))
        tr.init(frame, [200.0, 150.0, 41.0, 21.0])
        tr.lost = True  # as _follow_confidence sets it after low-confidence frames
        tr.update(frame)
        out[hold] = (tr.center.copy(), tr.size.copy())
    assert np.array_equal(out[True][0], out[False][0])  # the centre moves the same way
    assert np.array_equal(out[True][1], [41.0, 21.0])  # the size is held
    assert not np.array_equal(out[False][1], [41.0, 21.0])


def test_window_and_penalty_pick_the_right_point():
    # two equal scores: the one nearer the centre wins through the cosine window
    cls = np.zeros((2, 25, 25), np.float32)
    cls[1, 12, 13] = cls[1, 2, 2] = 8.0
    loc = np.full((4, 25, 25), 10.0, np.float32)
    tr = SiamCANTracker(MapEngine(cls, loc), TrackerConfig(penalty_k=0.0))
    frame = np.zeros((300, 300, 3), np.uint8)
    tr.init(frame, [140, 140, 20, 20])
    c0 = tr.center.copy()
    tr.update(frame)
    assert tr.center[0] > c0[0] and tr.center[1] == pytest.approx(c0[1])


def test_clip_to_frame_and_min_size():
    cls = np.zeros((2, 25, 25), np.float32)
    cls[1, 24, 24] = 20.0
    loc = np.full((4, 25, 25), 0.01, np.float32)  # a tiny box at the far corner
    tr = SiamCANTracker(MapEngine(cls, loc), TrackerConfig(window_influence=0.0, penalty_k=0.0, lr=1.0))
    frame = np.zeros((60, 80, 3), np.uint8)
    tr.init(frame, [60, 40, 15, 15])
    for _ in range(5):
        box, _ = tr.update(frame)
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        assert 0 <= cx <= 80 and 0 <= cy <= 60
        assert box[2] >= 10 and box[3] >= 10


# ------------------------------------------------------------------------------- template caching
class RecomputeTracker(SiamCANTracker):
    """Recomputes the template branch every frame from the stored template crop (no caching)."""

    def init(self, frame, box):
        super().init(frame, box)
        c = self.cfg
        s_z = round(context_size(self.size[0], self.size[1], c.context_amount))
        self.z_crop = crop_patch(frame, self.center, c.exemplar_size, s_z, self.channel_average)

    def update(self, frame):
        self.state = self.engine.template(self.z_crop)
        return super().update(frame)


@pytest.mark.slow
def test_template_caching_is_bit_identical(lite_model, human3_30):
    model, cfg = lite_model
    folder, init_box = human3_30
    engine = TorchEngine(model, "cpu")
    cached, fresh = SiamCANTracker(engine, cfg.tracker), RecomputeTracker(engine, cfg.tracker)
    frames = list(FrameSource(folder))
    assert len(frames) == 30
    cached.init(frames[0], init_box)
    fresh.init(frames[0], init_box)
    for f in frames[1:]:
        a, sa = cached.update(f)
        b, sb = fresh.update(f)
        assert a == b and sa == sb  # exact, not approximate


# ------------------------------------------------------------------------------------------ API
def test_public_api_tracks_real_frames(human3_30):
    folder, init_box = human3_30
    tracker = siamcan.Tracker.from_pretrained("siamcan-lite", device="cpu")
    frames = list(FrameSource(folder))[:8]
    tracker.init(frames[0], init_box)
    for f in frames[1:]:
        box, score = tracker.update(f)
        assert len(box) == 4 and all(math.isfinite(v) for v in box)
        assert 0.0 <= score <= 1.0
        assert box[2] >= 10 and box[3] >= 10


def test_update_before_init_is_an_error():
    tr = SiamCANTracker(MapEngine(np.zeros((2, 25, 25)), np.ones((4, 25, 25))))
    with pytest.raises(SiamcanError, match="before"):
        tr.update(np.zeros((50, 50, 3), np.uint8))

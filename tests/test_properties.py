"""Property-based tests (hypothesis): box conversions, crops at image borders, tracker post-processing."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from siamcan.config import TrackerConfig
from siamcan.tracking.geometry import crop_patch, cxcywh_to_xywh, xywh_to_cxcywh
from siamcan.tracking.tracker import SiamCANTracker

coord = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
side = st.floats(1e-3, 1e4, allow_nan=False, allow_infinity=False)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(coord, coord, side, side)
def test_xywh_cxcywh_round_trip(x, y, w, h):
    c = xywh_to_cxcywh([x, y, w, h])
    assert c[2] == w and c[3] == h
    assert math.isclose(c[0], x + (w - 1) / 2, rel_tol=1e-12, abs_tol=1e-9)
    back = cxcywh_to_xywh(c)
    np.testing.assert_allclose(back, [x, y, w, h], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(xywh_to_cxcywh(cxcywh_to_xywh([x, y, w, h])), [x, y, w, h], rtol=1e-12, atol=1e-9)


@st.composite
def crop_case(draw):
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    img = draw(arrays(np.uint8, (h, w, 3)))
    sz = draw(st.integers(1, 60))
    cx = draw(st.floats(-2.0 * w - 10, 3.0 * w + 10, allow_nan=False))
    cy = draw(st.floats(-2.0 * h - 10, 3.0 * h + 10, allow_nan=False))
    return img, (cx, cy), sz


@FAST
@given(crop_case())
def test_crop_at_borders(case):
    img, (cx, cy), sz = case
    ih, iw = img.shape[:2]
    mean = img.reshape(-1, 3).mean(axis=0)
    patch = crop_patch(img, (cx, cy), sz, sz, mean)  # no resize: pixels map one to one
    assert patch.shape == (sz, sz, 3) and patch.dtype == np.uint8 and patch.flags.c_contiguous
    x0 = math.floor(cx - (sz + 1) / 2 + 0.5)
    y0 = math.floor(cy - (sz + 1) / 2 + 0.5)
    ys, xs = np.mgrid[0:sz, 0:sz]
    sx, sy = xs + x0, ys + y0
    inside = (sx >= 0) & (sx < iw) & (sy >= 0) & (sy < ih)
    np.testing.assert_array_equal(patch[inside], img[sy[inside], sx[inside]])  # in-image pixels = source
    pad = mean.astype(np.uint8)
    assert (patch[~inside] == pad).all()  # padding = the per-channel mean (truncated to uint8)
    for out in (7, 127):
        resized = crop_patch(img, (cx, cy), out, sz, mean)
        assert resized.shape == (out, out, 3) and resized.dtype == np.uint8


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays(np.float32, (2, 25, 25), elements=finite), arrays(np.float32, (4, 25, 25), elements=finite),
       st.floats(0.0, 1.0), st.floats(0.0, 2.0), st.floats(0.05, 1.0),
       st.tuples(st.floats(0, 200), st.floats(0, 150), st.floats(10, 200), st.floats(10, 150)),
       st.floats(0.05, 20.0))
def test_postprocess_finite_for_finite_maps(cls, loc, wi, pk, lr, state, scale_z):
    cfg = TrackerConfig(window_influence=wi, penalty_k=pk, lr=lr)
    tr = SiamCANTracker(None, cfg)
    tr.center = np.array(state[:2])
    tr.size = np.array(state[2:])
    tr.state = ()
    shape = (150, 200, 3)
    for _ in range(3):
        box, score = tr.postprocess(cls, loc, scale_z, shape)
        assert all(math.isfinite(v) for v in box) and math.isfinite(score) and 0.0 <= score <= 1.0
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        assert 0 <= cx <= 200 + 1e-9 and 0 <= cy <= 150 + 1e-9
        assert 10 - 1e-9 <= box[2] <= 200 + 1e-9 and 10 - 1e-9 <= box[3] <= 150 + 1e-9

"""Property tests of the evaluation geometry and one-pass metrics."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siamcan.evaluation import metrics as M
from siamcan.evaluation.datasets import Sequence
from siamcan.evaluation.geometry import (box_iou, polygon_to_init_rect, region_overlap, region_overlap_raster,
                                         rect_to_polygon)

coord = st.floats(0, 200, allow_nan=False)
size = st.floats(1, 100, allow_nan=False)
rect = st.tuples(coord, coord, size, size)


def _rotated(cx: float, cy: float, w: float, h: float, angle: float) -> list[float]:
    c, s = np.cos(angle), np.sin(angle)
    pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [v for x, y in pts for v in (cx + c * x - s * y, cy + s * x + c * y)]


@settings(max_examples=60, deadline=None)
@given(st.lists(rect, min_size=1, max_size=20))
def test_identical_boxes_give_the_maximum_auc(boxes):
    """Identical boxes succeed at every threshold but t = 1.0: SPEC §5's strict IoU > t makes 20/21 the highest
    AUC (pysot / OTB behaviour; the OTB oracle values depend on it)."""
    gt = np.array(boxes)
    assert M.success_curve(gt, gt).tolist() == [1.0] * 20 + [0.0]
    assert M.success_curve(gt, gt).mean() == pytest.approx(20 / 21)
    assert M.precision_curve(gt, gt)[20] == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(rect, min_size=1, max_size=20))
def test_disjoint_boxes_give_auc_zero(boxes):
    gt = np.array(boxes)
    pred = gt.copy()
    pred[:, 0] += gt[:, 2] + 1000  # far to the right
    assert M.success_curve(gt, pred).mean() == 0.0
    assert M.precision_curve(gt, pred)[20] == 0.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(rect, rect), min_size=2, max_size=6), st.randoms())
def test_dataset_auc_is_invariant_to_sequence_order(pairs, random):
    scores = [M.OPEScore(str(i), M.success_curve(np.array([g]), np.array([p])), np.zeros(51), np.zeros(51))
              for i, (g, p) in enumerate(pairs)]
    shuffled = scores[:]
    random.shuffle(shuffled)
    assert M.summarize_one_pass(scores)["success_auc"] == pytest.approx(
        M.summarize_one_pass(shuffled)["success_auc"])


@settings(max_examples=100, deadline=None)
@given(rect, coord, coord, size, size, st.floats(0, np.pi))
def test_polygon_overlap_symmetric_and_bounded(r, cx, cy, w, h, angle):
    poly = _rotated(cx, cy, w, h, angle)
    a = region_overlap(r, poly)
    b = region_overlap(rect_to_polygon(r).ravel(), rect_to_polygon(_bbox(poly)).ravel())  # both axis-aligned
    assert 0.0 <= a <= 1.0 and 0.0 <= b <= 1.0
    # symmetry: the exact overlap of two axis-aligned regions does not depend on the argument order
    assert region_overlap(_bbox(poly), r) == pytest.approx(region_overlap(r, _bbox(poly)), abs=1e-9)
    assert region_overlap(r, poly, bounds=(150, 120)) <= 1.0


def _bbox(poly: list[float]) -> list[float]:
    p = np.array(poly).reshape(-1, 2)
    return [p[:, 0].min(), p[:, 1].min(), np.ptp(p[:, 0]), np.ptp(p[:, 1])]


@settings(max_examples=100, deadline=None)
@given(rect, rect)
def test_axis_aligned_polygon_overlap_equals_box_iou(a, b):
    iou = box_iou(np.array([a]), np.array([b]))[0]
    assert region_overlap(a, rect_to_polygon(b).ravel()) == pytest.approx(iou, abs=1e-9)
    assert region_overlap(a, b) == pytest.approx(iou, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(rect, coord, coord, size, size, st.floats(0, np.pi))
def test_raster_overlap_is_bounded_and_close_to_exact(r, cx, cy, w, h, angle):
    poly = _rotated(cx, cy, w, h, angle)
    raster = region_overlap_raster(r, poly)
    assert 0.0 <= raster <= 1.0
    # pixel counting differs from exact areas by at most a pixel-wide border
    if min(r[2], r[3], w, h) >= 30:
        assert abs(raster - region_overlap(r, poly)) < 0.15


def test_overlap_clipped_to_image_bounds():
    # half of the gt square lies left of the image: both regions are cut at x = 0
    gt = rect_to_polygon([-10, 0, 20, 10]).ravel()
    assert region_overlap([0, 0, 10, 10], gt, bounds=(100, 100)) == pytest.approx(1.0)
    assert region_overlap([0, 0, 10, 10], gt) == pytest.approx(0.5)
    assert np.isnan(region_overlap([np.nan] * 4, gt))


def test_polygon_init_rect_of_axis_aligned_polygon():
    # SPEC §5: w = s*(xmax-xmin)+1 with s = 1 for an axis-aligned polygon
    x, y, w, h = polygon_to_init_rect([10, 20, 50, 20, 50, 80, 10, 80])
    assert (w, h) == pytest.approx((41, 61))
    assert (x + (w - 1) / 2, y + (h - 1) / 2) == pytest.approx((30, 50))


def test_invalid_gt_and_missing_trailing_frames_fail():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0], [np.nan] * 4])
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])  # two frames short
    assert M.success_curve(gt, pred)[0] == pytest.approx(0.5)
    assert M.precision_curve(gt, pred)[20] == pytest.approx(0.5)


def test_absent_frames_are_excluded_when_asked():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 10, 10]])
    seq = Sequence("s", [], gt, absent=np.array([False, False, True]))
    pred = gt[:2].tolist() + [[100, 100, 5, 5]]
    assert M.score_one_pass(seq, np.array(pred), exclude_absent=True).auc == pytest.approx(20 / 21)
    assert M.score_one_pass(seq, np.array(pred)).auc == pytest.approx(2 / 3 * 20 / 21)


def test_eao_of_perfect_run_is_one_and_failure_lowers_it():
    gt = np.tile([10, 10, 30, 10, 30, 30, 10, 30], (200, 1)).astype(float)
    seq = Sequence.from_regions("s", [], gt, width=100, height=100)
    good = [[1]] + [[10, 10, 20, 20]] * 199
    bad = [[1]] + [[10, 10, 20, 20]] * 49 + [[2]] + [[0]] * 4 + [[1]] + [[10, 10, 20, 20]] * 145
    s_good, s_bad = M.score_vot(seq, good), M.score_vot(seq, bad)
    assert M.summarize_vot([s_good], "VOT2019")["eao"] > 0.9
    r = M.summarize_vot([s_bad], "VOT2019")
    assert r["failures"] == 1 and r["robustness"] == pytest.approx(0.5)
    assert r["eao"] < M.summarize_vot([s_good], "VOT2019")["eao"]

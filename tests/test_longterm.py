"""VOT long-term measures (issue 20): tracking precision / recall / F-score against a hand computation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from siamcan.evaluation.longterm import determine_thresholds, longterm_scores, pr_curve


def test_hand_computed_sequence():
    # 5 frames; the target is absent in frame 3 (index 2). Overlaps of the reported boxes with the ground truth:
    overlaps = np.array([0.8, 0.6, 0.0, 0.0, 0.5])  # frame 3: target absent -> 0; frame 4: on background -> 0
    conf = np.array([0.9, 0.7, 0.2, 0.4, 0.8])
    visible = np.array([True, True, False, True, True])  # 4 visible frames
    th = determine_thresholds(conf)
    assert th[0] == math.inf and th[-1] == -math.inf
    np.testing.assert_array_equal(th[1:-1], [0.9, 0.8, 0.7, 0.4, 0.2])
    pr, re = pr_curve(overlaps, conf, visible, th)
    # tau = inf: nothing reported -> Pr 1, Re 0
    # tau = 0.9: {0.8}                      Pr 0.8             Re 0.8 / 4 = 0.2
    # tau = 0.8: {0.8, 0.5}                 Pr 0.65            Re 1.3 / 4 = 0.325
    # tau = 0.7: {0.8, 0.6, 0.5}            Pr 1.9 / 3         Re 1.9 / 4 = 0.475
    # tau = 0.4: {0.8, 0.6, 0, 0.5}         Pr 1.9 / 4 = 0.475 Re 0.475
    # tau = 0.2 and -inf: all 5 frames      Pr 1.9 / 5 = 0.38  Re 0.475
    np.testing.assert_allclose(pr, [1, 0.8, 0.65, 1.9 / 3, 0.475, 0.38, 0.38])
    np.testing.assert_allclose(re, [0, 0.2, 0.325, 0.475, 0.475, 0.475, 0.475])
    s = longterm_scores({"a": (overlaps, conf, visible)})
    f = 2 * (1.9 / 3) * 0.475 / (1.9 / 3 + 0.475)  # best at tau = 0.7: F = 0.5429
    assert s.fscore == pytest.approx(f) and s.threshold == 0.7
    assert (s.precision, s.recall) == pytest.approx((1.9 / 3, 0.475))
    # a constant confidence cannot say when the box is wrong: F is that of reporting every frame
    c = longterm_scores({"a": (overlaps, np.ones(5), visible)})
    assert c.fscore == pytest.approx(2 * 0.38 * 0.475 / (0.38 + 0.475)) and c.fscore < s.fscore


def test_sequences_are_averaged_per_threshold():
    a = (np.array([1.0, 0.0]), np.array([0.9, 0.1]), np.array([True, True]))
    b = (np.array([0.5, 0.5]), np.array([0.5, 0.5]), np.array([True, True]))
    s = longterm_scores({"a": a, "b": b})
    np.testing.assert_array_equal(s.thresholds[1:-1], [0.9, 0.5, 0.5, 0.1])
    # tau 0.9: a (1, 0.5), b nothing reported (1, 0) -> (1, 0.25); tau 0.5: a (1, .5), b (.5, .5) -> (.75, .5)
    np.testing.assert_allclose(s.precision_curve[:3], [1, 1, 0.75])
    np.testing.assert_allclose(s.recall_curve[:3], [0, 0.25, 0.5])
    assert s.fscore == pytest.approx(0.6) and s.per_sequence["b"]["fscore"] == pytest.approx(0.5)


def test_threshold_resolution_and_nans():
    conf = np.linspace(0, 1, 1000)
    th = determine_thresholds(np.r_[conf, np.nan], resolution=100)
    assert len(th) == 100 and np.all(np.diff(th[1:-1]) <= 0)

"""Confidence features, logistic calibration and ROC AUC (issue 20) against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from siamcan.tracking.confidence import confidence, fit_logistic, reliability, roc_auc, score_features


def test_features_of_a_sharp_and_a_flat_map():
    sharp = np.full((5, 5), 0.01)
    sharp[2, 2] = 0.9
    sharp[0, 4] = 0.3  # a weaker distractor, a local maximum outside the 3x3 around the peak
    f = score_features(sharp.ravel(), best=12)
    assert f[0] == pytest.approx(0.9) and f[1] == pytest.approx(0.9)
    p = sharp.ravel()
    apce = (0.9 - 0.01) ** 2 / np.mean((p - 0.01) ** 2)
    assert f[2] == pytest.approx(math.log(apce))
    side = np.ones((5, 5), bool)
    side[1:4, 1:4] = False
    rest = sharp[side]
    assert f[3] == pytest.approx((0.9 - rest.mean()) / (rest.std() + 1e-6))
    assert f[4] == pytest.approx(0.3 / 0.9)
    flat = np.full(25, 0.5)
    g = score_features(flat, best=0)
    assert g[2] == pytest.approx(0.0) and g[3] == pytest.approx(0.0, abs=1e-3)  # APCE 1 (log 0), no sidelobe contrast


def test_roc_auc_hand_computed():
    # positives 0.9, 0.4; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.4<0.5, 0.4>0.1) -> 3/4
    assert roc_auc([0.9, 0.4, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie counts half
    assert math.isnan(roc_auc([0.3, 0.2], [1, 1]))


def test_logistic_fit_recovers_known_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2))
    w_true = np.array([-0.5, 2.0, -1.0])
    p = 1 / (1 + np.exp(-(w_true[0] + x @ w_true[1:])))
    y = rng.random(20000) < p
    w = fit_logistic(x, y, l2=0.0)
    np.testing.assert_allclose(w, w_true, atol=0.08)
    c = confidence(x[:5], w)
    assert c.shape == (5,) and ((c > 0) & (c < 1)).all()
    assert isinstance(confidence(x[0], w), float)
    # a calibrated model: in each bin the observed rate is close to the mean confidence
    for mean_conf, rate, n in reliability(confidence(x, w), y):
        if n > 500:
            assert abs(mean_conf - rate) < 0.05

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


def test_lost_threshold_hand_computed():
    """Frames off the target at confidences 0.3 and 0.6, on it at 0.7-0.99: "below t" flags exactly the two from
    t = 0.61 (F1 1); capped at 0.55 only 0.3 is flagged (F1 2 * 1 / (1 + 2)), and the lowest equal t is taken."""
    from siamcan.calibration import lost_threshold

    conf = [0.3, 0.6, 0.7, 0.95, 0.97, 0.99]
    overlaps = [False, False, True, True, True, True]
    assert lost_threshold(conf, overlaps) == (0.61, pytest.approx(1.0))
    assert lost_threshold(conf, overlaps, highest=0.55) == (0.5, pytest.approx(2 / 3))


def _recording(spurious: bool, seed: int = 0):
    """Six sequences of 400 frames; the peak separates the frames on and off the target the same way in all of them.
    The second feature does too (``spurious`` False), or (True) it separates them in opposite directions in odd and
    even sequences: a fit on some sequences learns a direction that is wrong for others."""
    from siamcan.calibration import Recording

    rng = np.random.default_rng(seed)
    feats, over, seq = [], [], []
    for s in range(6):
        on = rng.random(400) > 0.15
        peak = np.where(on, rng.normal(0.95, 0.03, 400), rng.normal(0.85, 0.05, 400))
        sign = (1 if s % 2 else -1) if spurious else 1
        other = sign * np.where(on, 1.0, -1.0) * 2.0 + rng.normal(0, 1.0, 400) + (s % 3)
        feats.append(np.c_[peak, peak, rng.normal(0, 5, (400, 1)), other, rng.normal(0, 1, (400, 1))])
        over.append(on.astype(float))
        seq.append(np.full(400, s))
    f = np.concatenate(feats)
    return Recording(f, np.concatenate(over), f[:, 0].copy(), np.concatenate(seq))


def test_calibrate_picks_the_features_that_generalise_across_sequences():
    from siamcan.calibration import calibrate

    cal = calibrate(_recording(spurious=True))
    assert cal.features == "peak"  # the spurious feature fits each training set and fails the held-out sequence
    assert np.all(cal.weights[2:] == 0) and cal.weights[1] > 0
    assert cal.roc_auc_loso == max(cal.loso.values()) > max(v for (f, _), v in cal.loso.items() if f == "all")
    assert cal.roc_auc_loso == pytest.approx(roc_auc(cal.weights[1] * _recording(True).features[:, 0],
                                                      _recording(True).overlaps > 0), abs=0.02)
    assert 0.5 <= cal.lost_threshold <= 0.99 and cal.lost_f1 > 0.5
    cal = calibrate(_recording(spurious=False))
    assert cal.features == "all" and cal.weights[4] > 0  # a feature that holds everywhere adds to the peak
    assert cal.roc_auc_loso > max(v for (f, _), v in cal.loso.items() if f == "peak")

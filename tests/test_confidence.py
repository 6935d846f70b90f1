"""Confidence features, logistic calibration and ROC AUC (issue 20) against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from siamcan.tracking.confidence import confidence, fit_logistic, log_loss, reliability, roc_auc, score_features


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


def test_log_loss_hand_computed():
    # -(ln 0.8 + ln 0.6 + ln(1 - 0.3)) / 3
    assert log_loss([0.8, 0.6, 0.3], [1, 1, 0]) == pytest.approx(-(math.log(0.8) + math.log(0.6) + math.log(0.7)) / 3)
    # a constant probability equal to the share of positives scores the labels' entropy
    assert log_loss([0.75] * 4, [1, 1, 1, 0]) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert log_loss([1.0, 0.0], [0, 1]) == pytest.approx(-math.log(1e-6))  # clipped, not infinite


def test_standardised_fit_gives_raw_feature_weights():
    """The fit runs on standardised columns and maps its weights back: unpenalised, the same model as a fit on the
    raw features; penalised, the penalty no longer depends on a feature's units (a feature scaled by 100 gets the same
    probabilities)."""
    from siamcan.calibration import fit

    rng = np.random.default_rng(1)
    x = np.c_[rng.normal(0.9, 0.05, 4000), rng.normal(3.0, 2.0, 4000)]
    y = rng.random(4000) < 1 / (1 + np.exp(-(-40 + 45 * x[:, 0] + 0.3 * x[:, 1])))
    np.testing.assert_allclose(fit(x, y, 1e-9), fit_logistic(x, y, 1e-9), rtol=1e-4, atol=1e-4)
    scaled = x * np.array([100.0, 1.0])
    np.testing.assert_allclose(confidence(scaled, fit(scaled, y, 100.0)), confidence(x, fit(x, y, 100.0)), atol=1e-9)
    w = fit(x, y, 10.0, columns=(1,))
    assert w[1] == 0 and w[2] > 0  # the other column's weight stays 0


def test_calibrate_picks_the_features_that_generalise_across_sequences():
    from siamcan.calibration import _loso, calibrate

    rec = _recording(spurious=True)
    cal = calibrate(rec)
    assert cal.features == "peak"  # the spurious feature fits each training set and fails the held-out sequence
    assert np.all(cal.weights[2:] == 0) and cal.weights[1] > 0
    assert cal.log_loss_loso == min(cal.loso.values()) < min(v for (f, _), v in cal.loso.items() if f == "all")
    assert cal.log_loss_loso < cal.log_loss_base  # better than a constant confidence
    y = rec.overlaps > 0
    assert cal.log_loss_loso == pytest.approx(log_loss(_loso(rec, y, cal.l2, (0,)), y))
    # the constant it is compared with is held out too: each sequence gets the share of frames on the target in the
    # other five
    share = np.array([y[rec.sequence != s].mean() for s in rec.sequence])
    assert cal.log_loss_base == pytest.approx(log_loss(share, y))
    # the held-out fits of one feature pooled: the ranking of that feature, less what the folds' intercepts move
    assert cal.roc_auc_loso == pytest.approx(roc_auc(rec.features[:, 0], y), abs=0.02)
    assert 0.5 <= cal.lost_threshold <= 0.99 and cal.lost_f1 > 0.5
    cal = calibrate(_recording(spurious=False))
    assert cal.features == "all" and cal.weights[4] > 0  # a feature that holds everywhere adds to the peak
    assert cal.log_loss_loso < min(v for (f, _), v in cal.loso.items() if f == "peak")
    assert cal.roc_auc_loso > max(v for (f, _), v in cal.loso_auc.items() if f == "peak")


def test_calibrate_says_when_no_fit_beats_a_constant():
    """Features that are noise: no fit predicts the held-out sequences better than their share of frames on the
    target (what `calibrate` then warns about)."""
    from siamcan.calibration import Recording, calibrate

    rng = np.random.default_rng(3)
    f = rng.normal(size=(1200, 5))
    y = rng.random(1200) < 0.8
    cal = calibrate(Recording(f, y.astype(float), f[:, 0].copy(), np.repeat(np.arange(6), 200)))
    assert cal.log_loss_loso >= cal.log_loss_base


def test_calibrate_cli_writes_a_config_the_tracker_loads(val_otb, tmp_path, capsys, one_thread):
    """`siamcan calibrate` end to end on four val sequences (three with frames off the target): the fit it chooses
    has a lower held-out log-loss than a constant confidence, and --write-config gives a config whose confidence and
    lost threshold the tracker loads."""
    import re

    from siamcan.calibration import LOST_GRID
    from siamcan.cli.main import main
    from siamcan.zoo import Tracker

    out = tmp_path / "calibrated.yaml"
    assert main(["--no-progress", "calibrate", str(val_otb), "--sequences", "Girl2", "Ironman", "vot-book", "Biker",
                 "--threads", "1", "--write-config", str(out)]) == 0
    text = capsys.readouterr().out
    chosen, constant = map(float, re.search(r"chosen by leave-one-sequence-out log-loss, ([\d.]+) \(a constant "
                                            r"confidence, held out too: ([\d.]+)", text).groups())
    assert chosen < constant
    lost = float(re.search(r"lost threshold: ([\d.]+)", text).group(1))
    weights = [float(w) for w in re.search(r"weights \(bias, [^)]*\): (.*)", text).group(1).split(", ")]
    cfg = Tracker.from_pretrained(str(out)).cfg
    assert cfg.lost_threshold == lost and lost in LOST_GRID
    assert list(cfg.confidence_weights) == pytest.approx(weights, abs=1e-4)

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


def test_report_scores_absent_frames_from_the_confidence_files(tmp_path, capsys):
    """``siamcan report`` on a dataset whose ground truth marks absent frames adds the long-term measures, from the
    ``<seq>_confidence.value`` files beside the boxes (a missing one: constant confidence, and it says so)."""
    import json

    import cv2

    from siamcan.cli.main import main

    data = tmp_path / "lt"
    (data / "seq" / "img").mkdir(parents=True)
    for i in range(6):
        cv2.imwrite(str(data / "seq" / "img" / f"{i + 1:04d}.jpg"), np.zeros((50, 60, 3), np.uint8))
    gt = ["10,10,20,20", "12,10,20,20", "nan,nan,nan,nan", "nan,nan,nan,nan", "14,10,20,20", "16,10,20,20"]
    (data / "seq" / "groundtruth_rect.txt").write_text("\n".join(gt) + "\n")
    res = tmp_path / "results" / "lt"
    for name, conf in (("A", ["", "0.9", "0.2", "0.3", "0.8", "0.1"]), ("B", None)):
        (res / name).mkdir(parents=True)
        # frame 2 exact, frames 3-4 (absent) a box anywhere, frame 5 half off, frame 6 missed
        (res / name / "seq.txt").write_text("10,10,20,20\n12,10,20,20\n0,0,5,5\n0,0,5,5\n24,10,20,20\n40,30,5,5\n")
        if conf is not None:
            (res / name / "seq_confidence.value").write_text("\n".join(conf) + "\n")
    out = tmp_path / "r.json"
    assert main(["report", str(data), "--format", "otb", "--results", str(tmp_path / "results"), "--json",
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert "long-term measures" in text and "without a confidence file" in text
    lt = json.loads(out.read_text())["trackers"]
    # frames 2..6: overlaps 1, 0 (absent), 0 (absent), IoU(24-44 vs 14-34) = 10*20/(2*400-200) = 1/3, 0
    overlaps = np.array([1.0, 0.0, 0.0, 1 / 3, 0.0])
    visible = np.array([True, False, False, True, True])
    want = longterm_scores({"seq": (overlaps, np.array([0.9, 0.2, 0.3, 0.8, 0.1]), visible)})
    assert lt["A"]["longterm"]["fscore"] == pytest.approx(want.fscore)
    assert lt["A"]["longterm"]["precision"] == pytest.approx(want.precision)
    # by hand: tau 0.8 reports frames 2 and 5: Pr (1 + 1/3) / 2, Re (4/3) / 3 -> F = 0.5714
    assert want.fscore == pytest.approx(2 * (2 / 3) * (4 / 9) / (2 / 3 + 4 / 9)) and want.threshold == 0.8
    const = longterm_scores({"seq": (overlaps, np.ones(5), visible)})
    assert lt["B"]["longterm"]["fscore"] == pytest.approx(const.fscore)
    assert lt["B"]["longterm"]["sequences_without_confidence"] == 1

"""Bootstrap intervals of the mean success AUC (``siamcan report --bootstrap``) against exact values."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from siamcan.errors import SiamcanError
from siamcan.evaluation.report import bootstrap_auc, format_bootstrap


def test_three_sequences_match_the_exact_bootstrap_distribution():
    per = {"A": {"s1": 0.2, "s2": 0.5, "s3": 0.8}}
    exact = sorted(np.mean(c) for c in itertools.product([0.2, 0.5, 0.8], repeat=3))  # all 27 equally likely draws
    # P(mean = 0.2) = P(mean = 0.8) = 1/27 > 2.5 %: the exact 95 % interval is the full range
    assert exact[0] == pytest.approx(0.2) and exact[-1] == pytest.approx(0.8)
    row = bootstrap_auc(per, samples=20000)["trackers"]["A"]
    assert row["success_auc"] == pytest.approx(0.5)
    assert row["ci"] == pytest.approx([0.2, 0.8])
    narrow = bootstrap_auc(per, samples=20000, level=0.5)["trackers"]["A"]["ci"]
    # exact quartiles of the 27 means: 0.4 and 0.6
    assert narrow == pytest.approx([float(np.percentile(exact, 25)), float(np.percentile(exact, 75))], abs=1e-9)


def test_paired_differences():
    base = {"a": 0.3, "b": 0.7, "c": 0.5, "d": 0.1}
    per = {"better": {k: v + 0.1 for k, v in base.items()}, "base": dict(base), "extra": {**base, "e": 0.9}}
    boot = bootstrap_auc(per, samples=500)
    assert boot["sequences"] == 4  # "e" is not scored for every tracker
    d = boot["trackers"]["better"]["vs"]["base"]
    assert d["difference"] == pytest.approx(0.1) and d["ci"] == pytest.approx([0.1, 0.1]) and d["ahead"] == 1.0
    assert boot["trackers"]["base"]["vs"]["better"]["ahead"] == 0.0
    assert "better - base: +0.100  [+0.100, +0.100], ahead in 100%" in format_bootstrap(boot)
    again = bootstrap_auc(per, samples=500)
    assert again == boot  # seeded


def test_too_few_sequences():
    with pytest.raises(SiamcanError, match="at least 2 sequences"):
        bootstrap_auc({"A": {"s1": 0.5}, "B": {"s1": 0.4, "s2": 0.3}})

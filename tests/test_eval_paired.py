"""``siamcan report --versus NAME [--blocks N]``: paired bootstrap comparisons, checked against the report's own
scores, the sequence bootstrap, and an exact probability."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamcan.cli.main import main
from siamcan.evaluation.report import bootstrap_auc

N = 40  # frames per sequence


def _dataset(root: Path, names=("s1", "s2", "s3")) -> Path:
    """OTB folders of N blank frames; the target moves right and is absent in frames 11-15."""
    for name in names:
        (root / name / "img").mkdir(parents=True)
        for i in range(N):
            cv2.imwrite(str(root / name / "img" / f"{i + 1:04d}.jpg"), np.zeros((60, 80, 3), np.uint8))
        rows = ["nan,nan,nan,nan" if 10 <= i < 15 else f"{10 + i % 30},10,20,20" for i in range(N)]
        (root / name / "groundtruth_rect.txt").write_text("\n".join(rows) + "\n")
    return root


def _gt(i: int) -> list[float]:
    return [10 + i % 30, 10, 20, 20]


def _write(results: Path, tracker: str, seq: str, boxes, conf) -> None:
    d = results / "ds" / tracker
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{seq}.txt").write_text("".join(",".join(f"{v:g}" for v in b) + "\n" for b in boxes))
    (d / f"{seq}_confidence.value").write_text("\n" + "".join(f"{c:g}\n" for c in conf[1:]))


def _shifted(i: int, dx: float) -> list[float]:
    x, y, w, h = _gt(i)
    return [x + dx, y, w, h]


@pytest.fixture
def scored(tmp_path):
    data = _dataset(tmp_path / "ds")
    results = tmp_path / "results"
    rng = np.random.default_rng(3)
    for seq in ("s1", "s2", "s3"):
        for name, spread in (("A", 8.0), ("B", 5.0)):
            dx = rng.uniform(0, spread, N)
            conf = rng.uniform(0, 1, N)
            conf[10:15] *= 0.3  # less sure while the target is away
            _write(results, name, seq, [_shifted(i, dx[i]) for i in range(N)], conf)
    return data, results


def _report(data, results, tmp_path, *extra) -> dict:
    out = tmp_path / "r.json"
    assert main(["report", str(data), "--format", "otb", "--results", str(results), "--json", str(out),
                 *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("blocks", [0, 5])
def test_point_estimates_are_the_reports_scores(scored, tmp_path, capsys, blocks):
    """With every unit drawn once, the pooled scores are exactly the report's success AUC and VOT-LT F, whether the
    units are sequences or blocks of frames."""
    data, results = scored
    extra = ["--blocks", str(blocks)] if blocks else []
    rep = _report(data, results, tmp_path, "--versus", "A", "--bootstrap", "400", *extra)
    v = rep["versus"]
    for name in "AB":
        assert v["scores"][name]["auc"]["score"] == pytest.approx(rep["trackers"][name]["success_auc"], abs=1e-12)
        assert v["scores"][name]["fscore"]["score"] == pytest.approx(rep["trackers"][name]["longterm"]["fscore"],
                                                                   abs=1e-12)
        lo, hi = v["scores"][name]["auc"]["ci"]
        assert lo <= v["scores"][name]["auc"]["score"] <= hi
    b = v["trackers"]["B"]["auc"]
    assert b["difference"] == pytest.approx(rep["trackers"]["B"]["success_auc"] - rep["trackers"]["A"]["success_auc"])
    assert v["unit"] == (f"{blocks} blocks of each sequence" if blocks else "3 sequences")
    assert "paired comparison with A" in capsys.readouterr().out


def test_by_sequence_it_is_the_paired_sequence_bootstrap(scored, tmp_path):
    """Without --blocks the draws are those of ``--bootstrap`` (seed 0), so the AUC comparison is the same."""
    data, results = scored
    rep = _report(data, results, tmp_path, "--versus", "A", "--bootstrap", "3000")
    boot_rep = _report(data, results, tmp_path, "--bootstrap", "3000")
    per = boot_rep["bootstrap"]["trackers"]
    paired = rep["versus"]["trackers"]["B"]["auc"]
    assert paired["ahead"] == pytest.approx(per["B"]["vs"]["A"]["ahead"])
    assert paired["ci"] == pytest.approx(per["B"]["vs"]["A"]["ci"], abs=1e-9)


def test_one_better_block_is_ahead_when_it_is_drawn(tmp_path):
    """B equals A except on one block of 4, where it is exact and A misses: B is ahead in exactly the resamples
    that draw that block at least once, 1 - (3/4)^4 = 68.4 % of them; never behind."""
    data = _dataset(tmp_path / "ds", names=("s1",))
    results = tmp_path / "results"
    conf = np.linspace(0.2, 0.9, N)
    a = [_shifted(i, 6.0) for i in range(N)]
    b = [(_gt(i) if 30 <= i < 40 else a[i]) for i in range(N)]  # block 4 of 4: frames 30-39
    _write(results, "A", "s1", a, conf)
    _write(results, "B", "s1", b, conf)
    rep = _report(data, results, tmp_path, "--versus", "A", "--blocks", "4", "--bootstrap", "20000")
    row = rep["versus"]["trackers"]["B"]
    for measure in ("auc", "fscore"):
        assert row[measure]["ahead"] == pytest.approx(1 - 0.75 ** 4, abs=0.01)
        assert row[measure]["ci"][0] == pytest.approx(0.0, abs=1e-12)  # never behind
        assert row[measure]["difference"] > 0


@pytest.mark.parametrize("extra, message", [
    (["--blocks", "4"], "--blocks goes with --versus"),
    (["--versus", "C"], "--versus C: no such tracker"),
    (["--versus", "A", "--blocks", "500"], "--blocks 500: the shortest sequence has only 40 frames"),
    (["--versus", "A", "--blocks", "20", "--bootstrap", "100000000"], "--bootstrap must be between 0 and"),
    (["--versus", "A", "--blocks", "-1"], "--blocks must be >= 0"),
])
def test_bad_options_are_one_line(scored, capsys, extra, message):
    data, results = scored
    assert main(["report", str(data), "--format", "otb", "--results", str(results), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_sequence_bootstrap_matches_bootstrap_auc():
    """The sequence draws are :func:`bootstrap_auc`'s: same seed, same resamples."""
    from siamcan.evaluation.paired import draws

    per = {"A": {"a": 0.1, "b": 0.5, "c": 0.9}}
    w = draws([1, 1, 1], 5000, 0)[0]
    means = w @ np.array([0.1, 0.5, 0.9]) / 3
    lo, hi = np.percentile(means, [2.5, 97.5])
    assert bootstrap_auc(per, samples=5000)["trackers"]["A"]["ci"] == pytest.approx([lo, hi])


def test_too_many_draws_are_refused_before_any_allocation(scored):
    """The API has no --bootstrap bound: resamples x units is bounded instead."""
    from siamcan.errors import SiamcanError
    from siamcan.evaluation.datasets import load_dataset
    from siamcan.evaluation.paired import compare
    from siamcan.evaluation.report import score_trackers

    data, results = scored
    report = score_trackers(load_dataset(data, "otb"), results)
    with pytest.raises(SiamcanError, match="is too many"):
        compare(report, "A", samples=10**7, blocks=20)

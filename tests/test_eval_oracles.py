"""Evaluation toolkit against real published results (oracles in ../shared/data/oracles; skipped when absent)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from siamcan.evaluation import load_dataset
from siamcan.evaluation import metrics as M
from siamcan.evaluation.results import load_results

OTB_EXPECTED = {  # tracker: (computed AUC, published AUC, computed P@20) from oracles/otb100/EXPECTED.md
    "KCF": (0.477140, 0.477, 0.6951),
    "Staple": (0.581356, 0.581, 0.7835),
    "SRDCF": (0.597980, 0.598, 0.7890),
    "DeepSRDCF": (0.635577, 0.636, 0.8512),
}


@pytest.fixture(scope="module")
def otb(oracles):
    ds = load_dataset(oracles / "otb100" / "OTB2015.json", "json")
    scores = {t: M.score_dataset_one_pass(ds, load_results(oracles / "otb100" / "results", ds, t))
              for t in OTB_EXPECTED}
    return ds, scores


def test_otb2015_json_names_and_start_frames(otb):
    ds, _ = otb
    by_name = {s.name: s for s in ds}
    assert len(ds) == 100
    assert {"Human4-2", "Jogging-1", "Jogging-2", "Skating2-1", "Skating2-2"} <= set(by_name)
    assert Path(by_name["David"].frames[0]).name == "0300.jpg" and len(by_name["David"]) == 471
    assert Path(by_name["Tiger1"].frames[0]).name == "0006.jpg" and len(by_name["Tiger1"]) == 349
    assert Path(by_name["Jogging-2"].frames[0]).parent.parent.name == "Jogging"


@pytest.mark.parametrize("tracker", list(OTB_EXPECTED))
def test_otb100_auc_and_precision(otb, tracker):
    _, scores = otb
    summary = M.summarize_one_pass(scores[tracker])
    computed, published, p20 = OTB_EXPECTED[tracker]
    assert summary["sequences"] == 100
    assert summary["success_auc"] == pytest.approx(computed, abs=5e-4)
    assert round(summary["success_auc"], 3) == published
    assert summary["precision"] == pytest.approx(p20, abs=5e-4)


def test_otb100_per_sequence_values(otb, oracles):
    _, scores = otb
    with open(oracles / "otb100" / "sequences.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 100
    for tracker, seq_scores in scores.items():
        by_name = {s.name: s for s in seq_scores}
        for row in rows:
            s = by_name[row["result_file"][:-4]]
            assert s.auc == pytest.approx(float(row[f"{tracker}_auc"]), abs=5.1e-5), (tracker, row["json_key"])
            assert s.precision[20] == pytest.approx(float(row[f"{tracker}_p20"]), abs=5.1e-5), \
                (tracker, row["json_key"])


VOT_CASES = [  # year, tracker, failures, published accuracy, published EAO
    ("VOT2018", "DaSiamRPN", 59, 0.586, 0.383),
    ("VOT2018", "NanoTrackV1", 70, 0.542, 0.311),
    ("VOT2019", "NanoTrackV1", 112, None, 0.247),
]


@pytest.fixture(scope="module")
def vot_datasets(oracles):
    return {y: load_dataset(oracles / "vot" / f"{y}.json", "json") for y in ("VOT2018", "VOT2019")}


@pytest.mark.parametrize("year,tracker,failures,acc,eao", VOT_CASES)
def test_vot_accuracy_robustness_eao(oracles, vot_datasets, year, tracker, failures, acc, eao):
    """Failure counts and robustness are exact. Overlaps are rasterised like the VOT toolkit's ``region.c``
    (the published numbers' toolkit); DaSiamRPN then reproduces A 0.586 / EAO 0.383 to 3 decimals.
    Measured for NanoTrackV1: VOT2018 A 0.5435 (published 0.542) and EAO 0.3119 (0.311), VOT2019 EAO 0.2475
    (0.247). The residual (<= 0.0015 A, <= 0.001 EAO) is not in the metric: the same code matches DaSiamRPN
    exactly; NanoTrack's A/R row comes from a hyper-parameter search table whose run may differ slightly from
    the released raw results. (Exact polygon areas instead of pixel counting give values ~0.003 lower.)"""
    ds = vot_datasets[year]
    assert ds.supervised
    res = load_results(oracles / "vot" / "results", ds, tracker)
    assert len(res) == 60
    scores = [M.score_vot(s, res[s.name]) for s in ds]
    summary = M.summarize_vot(scores, year)
    frames = sum(len(s) for s in ds)
    assert summary["failures"] == failures
    assert summary["robustness"] == pytest.approx(failures / frames * 100)
    if tracker == "DaSiamRPN":
        assert round(summary["robustness"], 3) == 0.276
        assert round(summary["accuracy"], 3) == acc
        assert round(summary["eao"], 3) == eao
    else:
        if acc is not None:
            assert summary["accuracy"] == pytest.approx(acc, abs=0.002)
        assert summary["eao"] == pytest.approx(eao, abs=0.0011)


def test_vot_per_tag_eao_is_finite(oracles, vot_datasets):
    ds = vot_datasets["VOT2018"]
    res = load_results(oracles / "vot" / "results", ds, "DaSiamRPN")
    tags = M.vot_per_tag([M.score_vot(s, res[s.name]) for s in ds], "VOT2018")
    assert set(tags) == {"camera_motion", "illum_change", "motion_change", "size_change", "occlusion"}
    assert all(0 < v < 1 for v in tags.values())
    assert np.isfinite(list(tags.values())).all()

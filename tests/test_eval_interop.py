"""``siamcan report``: a missing result file is never averaged in as zero (issue 19, item 2), and result files named
the pysot-toolkit ways are all found (item 4)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamcan.cli.main import main
from siamcan.evaluation import load_dataset
from siamcan.evaluation.results import load_results, result_names

from conftest import write_vot_squares


def _dataset(root: Path, names: list[str], n: int = 4) -> Path:
    img = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()
    for name in names:
        (root / name / "img").mkdir(parents=True)
        for i in range(n):
            (root / name / "img" / f"{i + 1:04d}.jpg").write_bytes(img)
        (root / name / "groundtruth_rect.txt").write_text("".join(f"{10 + i},10,20,20\n" for i in range(n)))
    return root


def _result(path: Path, rows: list[list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))


PERFECT = [[10 + i, 10, 20, 20] for i in range(4)]
LOST = [[10, 10, 20, 20]] + [[0, 0, 1, 1]] * 3


def test_report_means_only_sequences_every_tracker_has(tmp_path, capsys):
    data = _dataset(tmp_path / "mini", ["car", "dog", "parkour", "Human3", "pedestrian2"])
    res = tmp_path / "results" / "mini"
    for seq in ("dog", "parkour"):  # eval --sequences dog parkour: two of five
        _result(res / "A" / f"{seq}.txt", PERFECT)
    for seq in ("car", "dog", "parkour", "Human3", "pedestrian2"):
        _result(res / "B" / f"{seq}.txt", LOST)
    out_json = tmp_path / "r.json"
    assert main(["report", str(data), "--format", "otb", "--results", str(tmp_path / "results"),
                 "--json", str(out_json), "--per-sequence"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    a, b = report["trackers"]["A"], report["trackers"]["B"]
    assert a["sequences"] == b["sequences"] == 2  # over the sequences both have, not 5
    assert a["success_auc"] == pytest.approx(20 / 21)  # a perfect tracker on what it ran, not diluted by zeros
    assert report["missing"] == {"A": ["Human3", "car", "pedestrian2"]}
    assert report["compared"] == {"sequences": 2, "of": 5}
    assert "means over the 2 of 5 sequences that every tracker has a result for" in out
    assert "missing: A has no result file for Human3, car, pedestrian2" in out
    # one tracker alone: its own sequences; --sequences still restricts
    assert main(["report", str(data), "--format", "otb", "--results", str(tmp_path / "results"), "--trackers", "B",
                 "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["trackers"]["B"]["sequences"] == 5
    assert main(["report", str(data), "--format", "otb", "--results", str(tmp_path / "results"),
                 "--sequences", "dog", "--json", str(out_json)]) == 0
    r = json.loads(out_json.read_text())
    assert r["trackers"]["A"]["sequences"] == 1 and "missing" not in r
    # nothing in common: one line, exit 2
    _result(res / "C" / "car.txt", PERFECT)
    capsys.readouterr()
    assert main(["report", str(data), "--format", "otb", "--results", str(tmp_path / "results"),
                 "--trackers", "A", "C"]) == 2
    assert "no sequence of mini has a result file from every tracker" in capsys.readouterr().err
    # a tracker folder with no result for any of these sequences (another dataset's, in a shared results folder): left
    # out of the table with a note when the trackers are found, an error when it is named
    _result(res / "D" / "elsewhere.txt", PERFECT)
    assert main(["report", str(data), "--format", "otb", "--results", str(tmp_path / "results"),
                 "--sequences", "dog", "--json", str(out_json)]) == 0
    assert "left out: C, D (no result file for any of the sequences scored)" in capsys.readouterr().out
    r = json.loads(out_json.read_text())
    assert sorted(r["trackers"]) == ["A", "B"]
    assert r["unscored"] == ["C", "D"]
    assert main(["report", str(data), "--format", "otb", "--results", str(tmp_path / "results"),
                 "--trackers", "A", "D"]) == 2
    assert "tracker 'D' has no result file for any sequence of mini" in capsys.readouterr().err


def test_vot_report_uses_common_sequences_too(tmp_path, capsys):
    root = write_vot_squares(tmp_path / "vot")
    res = tmp_path / "results" / "vot"
    for tracker, seqs in (("T1", ["a", "b"]), ("T2", ["a"])):
        for s in seqs:
            _result(res / tracker / "baseline" / s / f"{s}_001.txt", [[1]] + [[10, 10, 20, 20]] * 11)
    out_json = tmp_path / "v.json"
    assert main(["report", str(root), "--format", "vot", "--results", str(tmp_path / "results"),
                 "--json", str(out_json)]) == 0
    r = json.loads(out_json.read_text())
    assert r["trackers"]["T1"]["sequences"] == r["trackers"]["T2"]["sequences"] == 1
    assert r["missing"] == {"T2": ["b"]}


@pytest.mark.parametrize("name, expected", [
    ("Jogging-1", ["Jogging-1", "jogging-1", "jogging_1", "Jogging_1"]),
    ("CarDark", ["CarDark", "carDark", "cardark"]),
    ("FleetFace", ["FleetFace", "fleetFace", "fleetface"]),
    ("Human4-2", ["Human4-2", "human4-2", "human4_2", "Human4_2"]),
    ("dog", ["dog"]),
])
def test_result_names_cover_pysot_fallbacks(name, expected):
    from siamcan.evaluation.datasets import Sequence

    seq = Sequence(name, [], np.zeros((1, 4)))
    assert result_names(seq) == expected


def test_otb100_key_named_results_equal_otb_named(oracles, tmp_path, capsys):
    """The oracle's raw OTB results (``Jogging-1.txt``) and the same files named by OTB2015.json's keys
    (``jogging_1.txt``, ``carDark.txt``: what pysot-toolkit also accepts) give the same report."""
    anno = oracles / "otb100" / "OTB2015.json"
    meta = json.loads(anno.read_text())
    src = oracles / "otb100" / "results"
    by_key = tmp_path / "by_key" / "OTB2015"
    renamed = 0
    for tracker in ("KCF", "SRDCF"):
        for key, entry in meta.items():
            suffix = key.rsplit("_", 1)[1] if re.search(r"_\d+$", key) else ""
            otb_name = f"{entry['name']}-{suffix}" if suffix else entry["name"]
            dst = by_key / tracker / f"{key}.txt"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src / tracker / f"{otb_name}.txt")
            renamed += key != otb_name
    assert renamed > 90  # nearly every key differs from its OTB name (carDark / CarDark, jogging_1 / Jogging-1)
    outs = []
    for results in (by_key.parent, src):
        out_json = tmp_path / f"{len(outs)}.json"
        assert main(["report", str(anno), "--format", "json", "--results", str(results), "--trackers", "KCF",
                     "SRDCF", "--json", str(out_json)]) == 0
        outs.append(json.loads(out_json.read_text()))
    assert outs[0] == outs[1]
    assert outs[0]["trackers"]["KCF"]["sequences"] == 100 and "missing" not in outs[0]
    assert round(outs[0]["trackers"]["KCF"]["success_auc"], 3) == 0.477
    # the lower-case fallback alone (basketball.txt) is found as well
    ds = load_dataset(anno, "json").select(["Basketball"])
    low = tmp_path / "low" / "OTB2015" / "KCF"
    low.mkdir(parents=True)
    (low / "basketball.txt").symlink_to(src / "KCF" / "Basketball.txt")
    assert list(load_results(tmp_path / "low", ds, "KCF")) == ["Basketball"]

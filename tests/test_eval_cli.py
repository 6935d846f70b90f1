"""End-to-end ``siamcan eval`` + ``siamcan report`` on a few real frames copied into tmp_path."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from siamcan.cli.main import main

FRAMES = 6


def _cut_otb(src: Path, dst: Path, names: list[str], n: int = FRAMES) -> Path:
    for name in names:
        (dst / name / "img").mkdir(parents=True)
        for f in sorted((src / name / "img").iterdir())[:n]:
            shutil.copy(f, dst / name / "img" / f.name)
        lines = (src / name / "groundtruth_rect.txt").read_text().splitlines()[:n]
        (dst / name / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return dst


@pytest.mark.slow
def test_eval_and_report_siamcan_and_nanotrack(dev_otb, nanotrack_v2, tmp_path, capsys):
    data = _cut_otb(dev_otb, tmp_path / "mini", ["dog", "parkour"])
    results = tmp_path / "results"
    assert main(["eval", str(data), "--format", "otb", "--model", "siamcan-lite", "--sequences", "dog",
                 "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "1 sequence(s) run" in out and str(results / "mini" / "siamcan-lite") in out
    boxes = (results / "mini" / "siamcan-lite" / "dog.txt").read_text().splitlines()
    assert len(boxes) == FRAMES
    # resumable: a finished sequence is not run again
    assert main(["eval", str(data), "--format", "otb", "--model", "siamcan-lite", "--sequences", "dog",
                 "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "nothing to run, all 1 sequence(s) already have results" in out and "nan" not in out
    assert main(["eval", str(data), "--format", "otb", "--tracker", "nanotrack-v2", "--nanotrack-dir",
                 str(nanotrack_v2), "--results", str(results), "--workers", "2"]) == 0
    assert (results / "mini" / "NanoTrackV2" / "parkour.txt").is_file()
    capsys.readouterr()

    out_json, out_png = tmp_path / "m.json", tmp_path / "m.png"
    assert main(["report", str(data), "--format", "otb", "--results", str(results), "--sequences", "dog",
                 "--json", str(out_json), "--plot", str(out_png)]) == 0
    table = capsys.readouterr().out
    assert "NanoTrackV2" in table and "siamcan-lite" in table
    report = json.loads(out_json.read_text())
    assert report["dataset"] == "mini"
    assert set(report["trackers"]) == {"NanoTrackV2", "siamcan-lite"}
    for row in report["trackers"].values():
        assert set(row) == {"success_auc", "precision", "norm_precision", "sequences"}
        assert 0 <= row["success_auc"] <= 1 and row["sequences"] == 1
    assert report["trackers"]["NanoTrackV2"]["success_auc"] > 0.3  # a real tracker on 6 easy frames
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    # per-sequence table and the bootstrap intervals
    assert main(["report", str(data), "--format", "otb", "--results", str(results), "--trackers", "NanoTrackV2",
                 "--per-sequence", "--bootstrap", "200", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "dog" in out and "parkour" in out and "intervals over 200 resamplings of the 2 sequences" in out
    boot = json.loads(out_json.read_text())["bootstrap"]["trackers"]["NanoTrackV2"]
    lo, hi = boot["ci"]
    assert lo <= boot["success_auc"] <= hi


def test_eval_vot_supervised_and_report(dev_vot, nanotrack_v2, tmp_path, capsys):
    data = tmp_path / "vot-mini"
    (data / "ball1" / "color").mkdir(parents=True)
    for f in sorted((dev_vot / "ball1" / "color").iterdir())[:12]:
        shutil.copy(f, data / "ball1" / "color" / f.name)
    gt = (dev_vot / "ball1" / "groundtruth.txt").read_text().splitlines()[:12]
    (data / "ball1" / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    (data / "list.txt").write_text("ball1\n")
    results = tmp_path / "results"
    assert main(["eval", str(data), "--format", "vot", "--tracker", "nanotrack-v2", "--nanotrack-dir",
                 str(nanotrack_v2), "--results", str(results)]) == 0
    lines = (results / "vot-mini" / "NanoTrackV2" / "baseline" / "ball1" / "ball1_001.txt").read_text().split()
    assert len(lines) == 12 and lines[0] == "1"
    capsys.readouterr()
    out_json = tmp_path / "vot.json"
    assert main(["report", str(data), "--format", "vot", "--results", str(results), "--json", str(out_json),
                 "--vot-year", "2019"]) == 0
    row = json.loads(out_json.read_text())["trackers"]["NanoTrackV2"]
    assert set(row) == {"eao", "accuracy", "robustness", "failures", "sequences"}
    assert row["failures"] == lines.count("2")


def test_nanotrack_reference_trackers(dev_otb, nanotrack_v3, nanotrack_v2, tmp_path, capsys):
    """NanoTrack v3 / v2 in ONNX Runtime with their own values, and OpenCV's TrackerNano under its own name."""
    data = _cut_otb(dev_otb, tmp_path / "mini", ["dog"])
    results = tmp_path / "results"
    for tracker, folder, name in (("nanotrack-v3", nanotrack_v3, "NanoTrackV3"),
                                  ("nanotrack-cv2", nanotrack_v2, "NanoTrackV2-cv2")):
        assert main(["eval", str(data), "--format", "otb", "--tracker", tracker, "--nanotrack-dir", str(folder),
                     "--results", str(results)]) == 0
        assert len((results / "mini" / name / "dog.txt").read_text().splitlines()) == FRAMES
    capsys.readouterr()
    out_json = tmp_path / "nt.json"
    assert main(["report", str(data), "--format", "otb", "--results", str(results), "--json", str(out_json)]) == 0
    rows = json.loads(out_json.read_text())["trackers"]
    assert rows["NanoTrackV3"]["success_auc"] > 0.3 and rows["NanoTrackV2-cv2"]["success_auc"] > 0.3
    assert main(["eval", str(data), "--format", "otb", "--tracker", "nanotrack-v3", "--nanotrack-dir",
                 str(nanotrack_v2), "--results", str(results), "--name", "x"]) == 2  # v2's files are no v3
    assert "not found" in capsys.readouterr().err


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "--format", "otb", "--results", str(tmp_path)]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--format", "otb", "--workers", "0"]) == 2


@pytest.mark.parametrize("argv", [["eval", "--help"], ["report", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0 and "--format" in capsys.readouterr().out


@pytest.mark.slow
def test_tune_over_two_folders_starts_from_config_values(dev_otb, tmp_path, capsys):
    a = _cut_otb(dev_otb, tmp_path / "a", ["dog"], n=4)
    b = _cut_otb(dev_otb, tmp_path / "b", ["parkour"], n=4)
    log, out_cfg = tmp_path / "trials.csv", tmp_path / "tuned.yaml"
    assert main(["tune", str(a), str(b), "--format", "otb", "--model", "siamcan-lite", "--trials", "2",
                 "--sequences", "parkour", "dog", "--range", "penalty_k=0:1.2", "--log", str(log),
                 "--write-config", str(out_cfg)]) == 0
    assert "(2 sequences)" in capsys.readouterr().out
    from siamcan.config import load_config
    from siamcan.zoo import resolve_config
    base = resolve_config("siamcan-lite").tracker
    rows = log.read_text().splitlines()
    assert rows[0] == "trial,window_influence,penalty_k,lr,objective" and len(rows) == 3
    first = [float(v) for v in rows[1].split(",")]
    assert first[1:4] == [base.window_influence, base.penalty_k, base.lr]  # trial 0 = the config's values
    best = max(rows[1:], key=lambda r: float(r.split(",")[-1])).split(",")
    tuned = load_config(out_cfg).tracker
    assert tuned.window_influence == round(float(best[1]), 4) and tuned.lr == round(float(best[3]), 4)
    assert all(0.0 <= float(r.split(",")[2]) <= 1.2 for r in rows[1:])
    # two worker processes run the same trials: the same log
    log2 = tmp_path / "trials2.csv"
    assert main(["tune", str(a), str(b), "--format", "otb", "--model", "siamcan-lite", "--trials", "2",
                 "--sequences", "parkour", "dog", "--range", "penalty_k=0:1.2", "--log", str(log2),
                 "--workers", "2"]) == 0
    assert log2.read_text() == log.read_text()
    assert main(["tune", str(a), "--trials", "1", "--range", "penalty=0:1"]) == 2
    assert "penalty" in capsys.readouterr().err
    # the same sequence name in two folders is refused, one line
    c = _cut_otb(dev_otb, tmp_path / "c", ["dog"], n=4)
    assert main(["tune", str(a), str(c), "--trials", "1"]) == 2
    assert "'dog'" in capsys.readouterr().err

"""Small things a new user ran into (issue 19, items 7 and 8): default output names, --benchmark names, the export
check line, tune's README command, --no-progress after the command, --help defaults, NanoTrack's WARN lines,
git-ignored benchmark results."""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import pytest

from siamcan.tracking.export import check_line
from siamcan.cli.main import _DefaultsFormatter, build_parser, main

from conftest import run_child
from test_reliability_input import write_frames

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------- item 7: output names
@pytest.mark.parametrize("layout, source, expected", [
    ("Human3/img", "Human3/img", "Human3.boxes.txt"),
    ("Human3/img", "Human3/img/", "Human3.boxes.txt"),
    ("ball1/color", "ball1/color", "ball1.boxes.txt"),
    ("walk_frames", "walk_frames", "walk_frames.boxes.txt"),
    ("seq/img", "seq", "seq.boxes.txt"),
])
def test_folder_output_is_named_after_the_sequence(tmp_path, monkeypatch, capsys, layout, source, expected):
    write_frames(tmp_path / layout, 2)
    monkeypatch.chdir(tmp_path)
    assert main(["track", source, "--init", "10,10,30,30", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / expected).is_file()
    assert f"boxes: {tmp_path / expected}" in out  # says where it went, as an absolute path


def test_two_sequences_do_not_overwrite_each_other(tmp_path, monkeypatch, capsys):
    for seq in ("Human3", "dog"):
        write_frames(tmp_path / seq / "img", 2)
    monkeypatch.chdir(tmp_path)
    for seq in ("Human3", "dog"):
        assert main(["track", f"{seq}/img", "--init", "10,10,30,30", "--no-progress"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.boxes.txt")) == ["Human3.boxes.txt", "dog.boxes.txt"]


# ------------------------------------------------------------------------------------- item 8: the small ones
@pytest.mark.parametrize("model, bench, says", [
    ("siamcan-r50", "VOT2017", "unknown --benchmark 'VOT2017' for model siamcan-r50 (known: VOT2018, VOT2019, OTB100)"),
    ("siamcan-lite", "OTB100", "model siamcan-lite has one set of tracker values for every benchmark: drop --benchmark "
                               "'OTB100'"),
    (None, "VOT2018", "model siamcan-nano has one set of tracker values for every benchmark"),
])
def test_unknown_benchmark_lists_the_known_ones(tmp_path, capsys, model, bench, says):
    model_args = ["--model", model] if model else []
    assert main(["eval", str(tmp_path), "--format", "otb", *model_args, "--benchmark", bench]) == 2
    assert says in capsys.readouterr().err


def test_known_benchmark_is_case_insensitive():
    from siamcan.zoo import resolve_config

    assert resolve_config("siamcan-r50").benchmark_key("vot2018") == "VOT2018"


@pytest.mark.parametrize("check, ok", [
    ({"max_abs_diff_cls": 1.5e-5, "max_abs_diff_loc": 11.0, "max_rel_diff_loc": 6.8e-6, "max_abs_loc": 1629260.0,
      "max_rel_diff_state": 2e-7}, True),  # random heads: 11 px of 1.6e6 px is float32 rounding
    ({"max_abs_diff_cls": 0.3, "max_abs_diff_loc": 2.0, "max_rel_diff_loc": 0.02, "max_abs_loc": 100.0,
      "max_rel_diff_state": 0.0}, False),
])
def test_export_check_line_says_passed_or_failed(check, ok):
    line, passed = check_line(check)
    assert passed == ok
    assert line.startswith("check passed" if ok else "check FAILED")
    assert "1629260" not in line and " px" not in line


def test_readme_tune_command_does_not_warn(dev_otb, tmp_path, capsys):
    """siamcan-lite's shipped penalty_k (0.62) lies above SiamBAN's range 0:0.6: the range is widened to hold it, so
    optuna does not warn about the first trial."""
    from test_eval_cli import _cut_otb

    data = _cut_otb(dev_otb, tmp_path / "tld", ["dog"], n=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["tune", str(data), "--format", "otb", "--model", "siamcan-lite", "--trials", "2",
                     "--no-progress"]) == 0
    assert not [w for w in caught if "out of range" in str(w.message)], [str(w.message) for w in caught]
    assert "search range penalty_k widened to 0:0.6199" in capsys.readouterr().out


def test_no_progress_after_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    frames = write_frames(tmp_path / "f", 3)
    assert main(["track", str(frames), "--init", "10,10,30,30", "--output", str(tmp_path / "o.txt"),
                 "--no-progress"]) == 0
    assert os.environ.get("TQDM_DISABLE") == "1"
    assert "frame/s" not in capsys.readouterr().err and "it/s" not in capsys.readouterr().err


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_help_shows_every_default(command):
    p = _subparsers()[command]
    formatter = _DefaultsFormatter(command)
    for action in p._actions:
        if (not action.option_strings or action.nargs == 0 or action.help == argparse.SUPPRESS or action.required
                or action.default is None):  # None: the help text says what happens (checked for track below)
            continue
        text = formatter._get_help_string(action)
        assert "default" in text, (command, action.option_strings, text)
    assert "--no-progress" in p.format_help()


def test_track_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["track", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for needle in ("(default: auto)", "default: siamcan-nano", "default: physical cores - 1",
                   "default: the weights shipped", "default: the whole source"):
        assert needle in out, needle


def test_nanotrack_eval_prints_no_opencv_warn(dev_otb, nanotrack_v2, tmp_path):
    from test_eval_cli import _cut_otb

    data = _cut_otb(dev_otb, tmp_path / "mini", ["dog", "parkour"], n=3)
    p = run_child([sys.executable, "-m", "siamcan.cli.main", "eval", str(data), "--format", "otb", "--tracker",
                   "nanotrack", "--nanotrack-dir", str(nanotrack_v2), "--results", str(tmp_path / "r"),
                   "--no-progress"], text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "WARN" not in p.stderr and "2 sequence(s) run" in p.stdout


def test_benchmark_results_are_git_ignored():
    lines = (REPO / ".gitignore").read_text().splitlines()
    assert "/benchmarks/results/" in lines
    if (REPO / ".git").exists():
        r = run_child(["git", "-C", str(REPO), "check-ignore", "-q", "benchmarks/results/bench_x.json"], timeout=60)
        assert r.returncode == 0


def test_track_summary_suggests_redetect_when_the_target_is_lost_long(tmp_path, capsys):
    """The default tracks without re-detection; when the target was lost for a second or more, the summary line says
    that --redetect would search for it (not with --redetect, and not for a target never lost)."""
    import cv2
    import numpy as np

    from siamcan.cli.track import LOST_HINT_FRAMES

    rng = np.random.default_rng(0)
    target = cv2.resize(rng.integers(0, 255, (5, 5, 3), dtype=np.uint8), (40, 40), interpolation=cv2.INTER_NEAREST)
    runs = {"gone": 5, "stays": 45}  # frames the target is there, of 45
    for name, present in runs.items():
        d = tmp_path / name / "img"
        d.mkdir(parents=True)
        for i in range(45):
            f = np.full((240, 320, 3), 90, np.uint8)
            if i < present:
                f[100:140, 140:180] = target
            cv2.imwrite(str(d / f"{i + 1:04d}.jpg"), f)
    lines = {}
    for name, extra in (("gone", []), ("gone", ["--redetect"]), ("stays", [])):
        assert main(["track", str(tmp_path / name / "img"), "--init", "140,100,40,40", "--output",
                     str(tmp_path / "out.txt"), "--no-progress"] + extra) == 0
        lines[(name, bool(extra))] = capsys.readouterr().out.strip().splitlines()[-1]
    lost = int(lines[("gone", False)].split("lost in ")[1].split()[0])
    assert lost >= LOST_HINT_FRAMES and "(--redetect searches the whole frame" in lines[("gone", False)]
    assert "lost in" in lines[("gone", True)] and "--redetect" not in lines[("gone", True)]
    assert "lost in" not in lines[("stays", False)] and "--redetect" not in lines[("stays", False)]


def test_the_models_the_help_names_exist():
    from siamcan.config import DEFAULT_MODEL, MAIN_MODELS
    from siamcan.zoo import available_models

    assert DEFAULT_MODEL in MAIN_MODELS and set(MAIN_MODELS) <= set(available_models())

"""What the hostile-input probe found (issue 19, item 9): names and paths from data files cannot reach outside the
results folder or the dataset root; bad input of every kind is one line and exit 2; Ctrl-C / SIGTERM during
``tune`` and a second Ctrl-C during ``eval --workers 2`` end cleanly."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from siamcan.cli.main import main

from conftest import CliChild
from test_reliability_input import write_frames
from test_threads import tiny_onnx

pytestmark = pytest.mark.usefixtures("one_thread")

JPG = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()


def run_cli(argv: list, capsys) -> tuple[int, str]:
    """``siamcan ARGV`` in-process -> (exit code, stderr); argparse's own errors (SystemExit) included."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    return rc, capsys.readouterr().err


def assert_one_line(rc: int, err: str, needle: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert needle.lower() in lines[0].lower(), lines[0]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --------------------------------------------------------------------------------------- traversal from data files
def _json_dataset(base: Path, meta: dict) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    (base / "seq" / "img").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (base / "seq" / "img" / f"{i + 1:04d}.jpg").write_bytes(JPG)
    path = base / "DATA.json"
    path.write_text(json.dumps(meta))
    return path


GT3 = [[5, 5, 20, 20]] * 3


def _pysot(key="seq", **entry) -> dict:
    e = {"video_dir": "seq", "init_rect": GT3[0], "img_names": [f"seq/img/{i:04d}.jpg" for i in (1, 2, 3)],
         "gt_rect": GT3, "attr": []}
    e.update(entry)
    return {key: e}


TRAVERSAL = {
    "json key absolute": (lambda root: _pysot(key=str(root / "pwned")), "not a plain name"),
    "json key ../..": (lambda root: _pysot(key="../../pwned"), "not a plain name"),
    "json key with a folder": (lambda root: _pysot(key="sub/pwned"), "not a plain name"),
    "json key ..": (lambda root: _pysot(key=".."), "not a plain name"),
    "json OTB2015 name ../..": (lambda root: {"seq": {"name": "../../pwned", "image_files": ["0001.jpg"] * 3,
                                                      "gt_rect": GT3}}, "not a plain name"),
    "json image ../..": (lambda root: _pysot(img_names=["../../outside.jpg"] * 3), "outside the dataset root"),
    "json image absolute": (lambda root: _pysot(img_names=[str(root / "outside.jpg")] * 3),
                            "outside the dataset root"),
    "json OTB2015 image ../..": (lambda root: {"seq": {"name": "seq", "image_files": ["../../../outside.jpg"] * 3,
                                                       "gt_rect": GT3}}, "outside the dataset root"),
    "json video_dir ../..": (lambda root: _pysot(img_names=[], video_dir="../../elsewhere"),
                             "outside the dataset root"),
}


@pytest.mark.parametrize("case", list(TRAVERSAL))
def test_json_names_and_images_stay_inside(tmp_path, capsys, case):
    build, needle = TRAVERSAL[case]
    (tmp_path / "outside.jpg").write_bytes(JPG)
    base = tmp_path / "a" / "b"
    anno = _json_dataset(base, build(tmp_path))
    before = tree(tmp_path)
    rc, err = run_cli(["eval", anno, "--format", "json", "--results", base / "results"], capsys)
    assert_one_line(rc, err, needle)
    rc, err = run_cli(["report", anno, "--format", "json", "--results", base / "results"], capsys)
    assert_one_line(rc, err, needle)
    assert tree(tmp_path) == before  # nothing written anywhere (not even the results folder)


def test_explicit_root_bounds_the_images(tmp_path, capsys):
    root = tmp_path / "images"
    (root / "seq" / "img").mkdir(parents=True)
    (tmp_path / "outside.jpg").write_bytes(JPG)
    anno = tmp_path / "anno" / "DATA.json"
    anno.parent.mkdir()
    anno.write_text(json.dumps(_pysot(img_names=["../outside.jpg"] * 3)))
    rc, err = run_cli(["eval", anno, "--format", "json", "--root", root, "--results", tmp_path / "r"], capsys)
    assert_one_line(rc, err, "outside the dataset root")


@pytest.mark.parametrize("fmt, layout", [("vot", "color"), ("got10k", "")])
def test_list_txt_names_are_plain(tmp_path, capsys, fmt, layout):
    data = tmp_path / "a" / "b" / "data"
    (data / "seq" / layout).mkdir(parents=True)
    (data / "list.txt").write_text("seq\n../../pwned\n")
    before = tree(tmp_path)
    rc, err = run_cli(["eval", data, "--format", fmt, "--results", data.parent / "results"], capsys)
    assert_one_line(rc, err, "'../../pwned' is not a plain name")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("argv, needle", [
    (["eval", "DATA", "--format", "otb", "--name", "../../pwned"], "--name '../../pwned' is not a plain name"),
    (["eval", "DATA", "--format", "otb", "--name", "/tmp/pwned"], "is not a plain name"),
    (["eval", "DATA", "--format", "otb", "--name", ".."], "is not a plain name"),
    (["report", "DATA", "--format", "otb", "--results", "RESULTS", "--trackers", "../x"], "is not a plain name"),
])
def test_command_line_names_are_plain(tmp_path, capsys, argv, needle):
    data = tmp_path / "a" / "b" / "data"
    write_frames(data / "seq" / "img", 2)
    (data / "seq" / "groundtruth_rect.txt").write_text("5,5,20,20\n" * 2)
    (tmp_path / "a" / "b" / "results" / "data" / "x").mkdir(parents=True)
    before = tree(tmp_path)
    argv = [data if a == "DATA" else tmp_path / "a" / "b" / "results" if a == "RESULTS" else a for a in argv]
    rc, err = run_cli(argv + (["--results", tmp_path / "a" / "b" / "results"] if argv[0] == "eval" else []), capsys)
    assert_one_line(rc, err, needle)
    assert tree(tmp_path) == before


def test_plain_json_with_symlinked_images_still_runs(tmp_path, capsys):
    """The checks are on the names in the file: a dataset whose image folder is a symlink (a common way to lay
    out data) still works, and results go under --results only."""
    real = tmp_path / "storage" / "seq_images"
    write_frames(real, 3)
    base = tmp_path / "data"
    base.mkdir()
    (base / "seq").mkdir()
    (base / "seq" / "img").symlink_to(real)
    names = [f"seq/img/{p.name}" for p in sorted(real.iterdir())]
    anno = base / "DATA.json"
    anno.write_text(json.dumps(_pysot(img_names=names)))
    before = tree(tmp_path)
    assert main(["eval", str(anno), "--format", "json", "--results", str(tmp_path / "res"), "--no-progress"]) == 0
    assert tree(tmp_path) - before == {"res", "res/DATA", "res/DATA/siamcan-nano", "res/DATA/siamcan-nano/seq.txt",
                                       "res/DATA/siamcan-nano/seq_confidence.value"}


# ------------------------------------------------------------------------------------------------- bad input
def _config(tmp_path: Path, tracker: dict | None = None, model: dict | None = None, train: dict | None = None) -> Path:
    data = {"name": "x", "model": {"backbone": "efficientnet_lite0", "channels": 128, **(model or {})}}
    if tracker:
        data["tracker"] = tracker
    if train is not None:
        data["train"] = {"epochs": 1, "warmup_epochs": 0, "batch_size": 2, "pairs_per_epoch": 4, "num_workers": 0,
                         "datasets": [{"name": "d", "format": "otb", "root": str(tmp_path)}], **train}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _train_config(tmp_path: Path, gt: bytes | str) -> Path:
    """A training config over one OTB sequence with the annotation file ``gt``."""
    return _config(tmp_path, train={"datasets": [{"name": "d", "format": "otb", "root": str(_otb(tmp_path, gt))}]})


def _json(tmp_path: Path, meta) -> Path:
    p = tmp_path / "BAD.json"
    p.write_text(meta if isinstance(meta, str) else json.dumps(meta))
    return p


def _otb(tmp_path: Path, gt: bytes | str = "5,5,20,20\n5,5,20,20\n") -> Path:
    data = tmp_path / "otbdata"
    write_frames(data / "seqA" / "img", 2)
    gt_path = data / "seqA" / "groundtruth_rect.txt"
    gt_path.write_bytes(gt) if isinstance(gt, bytes) else gt_path.write_text(gt)
    return data


def _results(tmp_path: Path, content: bytes) -> list:
    data = _otb(tmp_path)
    r = tmp_path / "res" / "otbdata" / "T"
    r.mkdir(parents=True)
    (r / "seqA.txt").write_bytes(content)
    return ["report", data, "--format", "otb", "--results", tmp_path / "res"]


def _log_dir(tmp_path: Path) -> Path:
    return tmp_path


FRAMES = "FRAMES"  # replaced by a folder of 4 frames (160x120)
BAD_INPUT = {
    # tracking: boxes, numbers, devices, sources
    "huge init box": (["track", FRAMES, "--init", "0,0,100000,100000"], "much larger than the 160x120 frame"),
    "huge first gt box": (lambda t: ["eval", _otb(t, "0,0,100000,100000\n5,5,20,20\n"), "--format", "otb",
                                     "--results", t / "r"], "sequence seqA: init box"),
    "max-frames 1e30": (["track", FRAMES, "--init", "1,1,5,5", "--max-frames", "1e30"], "invalid int value"),
    "device bogus (track)": (["track", FRAMES, "--init", "1,1,5,5", "--device", "bogus"], "unknown --device 'bogus'"),
    "device bogus (eval)": (lambda t: ["eval", _otb(t), "--format", "otb", "--device", "bogus", "--results", t / "r"],
                            "unknown --device 'bogus'"),
    "device mps": (["track", FRAMES, "--init", "1,1,5,5", "--device", "mps"], "unknown --device 'mps'"),
    "camera index huge": (["track", "99999999999999999999", "--init", "1,1,5,5"], "camera index"),
    "onnx dir empty": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--backend", "onnx",
                                  "--onnx-dir", t], "template.onnx not found"),
    "onnx files swapped": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--backend", "onnx",
                                      "--onnx-dir", tiny_onnx(t / "o", swapped=True)], "are they swapped"),
    "onnx of another model": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--backend", "onnx",
                                         "--onnx-dir", tiny_onnx(t / "o", one_input=True)], "does not hold a siamcan"),
    "onnx garbage": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--backend", "onnx",
                                "--onnx-dir", _garbage_onnx(t)], "cannot load the ONNX files"),
    "onnx crop sizes": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--backend", "onnx",
                                   "--onnx-dir", tiny_onnx(t / "o"), "--model",
                                   _config(t, {"instance_size": 271, "score_size": 27})], "the ONNX files take"),
    "onnx dir with fast": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--backend", "fast",
                                      "--onnx-dir", tiny_onnx(t / "o")], "--onnx-dir goes with the onnx backend"),
    # report
    "plot .xyz": (lambda t: _results(t, b"5,5,20,20\n5,5,20,20\n") + ["--plot", t / "out.xyz"],
                  "cannot write a 'xyz' image"),
    # files that are not UTF-8
    "annotation utf-16": (lambda t: ["eval", _otb(t, "5,5,20,20\n5,5,20,20\n".encode("utf-16")), "--format", "otb",
                                     "--results", t / "r"], "is not utf-8 text"),
    "annotation binary": (lambda t: ["eval", _otb(t, bytes(range(256))), "--format", "otb", "--results", t / "r"],
                          "is not utf-8 text"),
    "result utf-16": (lambda t: _results(t, "5,5,20,20\n".encode("utf-16")), "result file"),
    "training annotation utf-16": (lambda t: ["train", _train_config(t, "5,5,20,20\n5,5,20,20\n".encode("utf-16")),
                                              "--output", t / "run"], "groundtruth_rect.txt is not utf-8 text"),
    "training annotation binary": (lambda t: ["train", _train_config(t, bytes(range(256))), "--output", t / "run"],
                                   "is not utf-8 text"),
    "result binary": (lambda t: _results(t, b"\xff\xfe\x00\x81" * 10), "is not utf-8 text"),
    "config utf-16": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                 _utf16_config(t)], "is not utf-8 text"),
    "config binary": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                 _write(t / "c.yaml", os.urandom(200) + b"\xff")], "config file"),
    "config nested": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                 _write(t / "c.yaml", b"[" * 20000)], "config file"),
    # malformed pysot JSON
    "json string for a number": (lambda t: ["report", _json(t, _pysot(gt_rect=[["a", 1, 2, 3]] * 3)), "--format",
                                            "json", "--results", t], "gt_rect row 1 must be a list of numbers"),
    "json int for a list": (lambda t: ["report", _json(t, _pysot(gt_rect=5)), "--format", "json", "--results", t],
                            "gt_rect must be a non-empty list"),
    "json int rows": (lambda t: ["report", _json(t, _pysot(gt_rect=[5, 6, 7, 8])), "--format", "json",
                                 "--results", t], "row 1 must be a list"),
    "json null entry": (lambda t: ["report", _json(t, {"seq": None}), "--format", "json", "--results", t],
                        "has no gt_rect"),
    "json null gt": (lambda t: ["report", _json(t, _pysot(gt_rect=None)), "--format", "json", "--results", t],
                     "gt_rect must be"),
    "json nested": (lambda t: ["report", _json(t, "[" * 100000), "--format", "json", "--results", t],
                    "nested too deeply"),
    "json image_files int": (lambda t: ["report", _json(t, {"s": {"name": "s", "image_files": 3, "gt_rect": GT3}}),
                                        "--format", "json", "--results", t], "image_files must be a list of strings"),
    "json img_names numbers": (lambda t: ["report", _json(t, _pysot(img_names=[1, 2, 3])), "--format", "json",
                                          "--results", t], "img_names must be a list of strings"),
    "json attr int": (lambda t: ["report", _json(t, _pysot(attr=7)), "--format", "json", "--results", t],
                      "attr must be a list of strings"),
    "json width string": (lambda t: ["report", _json(t, _pysot(width="abc")), "--format", "json", "--results", t],
                          "width must be a positive whole number"),
    "json tag string": (lambda t: ["report", _json(t, _pysot(camera_motion="abc")), "--format", "json",
                                   "--results", t], "camera_motion must be a list of numbers"),
    "json absent dict": (lambda t: ["report", _json(t, _pysot(absent={})), "--format", "json", "--results", t],
                         "absent must be a list of numbers"),
    "json top-level list": (lambda t: ["report", _json(t, [1, 2]), "--format", "json", "--results", t],
                            "expected a JSON object of sequences"),
    # tracker sizes that do not fit the network
    "instance_size 271": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                     _config(t, {"instance_size": 271})], "set score_size: 27"),
    "score_size 27": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                 _config(t, {"score_size": 27})], "score_size' is 27"),
    "instance_size 260": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                     _config(t, {"instance_size": 260})], "multiple of the stride"),
    "exemplar_size 1": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                   _config(t, {"exemplar_size": 1})], "multiple of the stride"),
    "exemplar_size 31": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                    _config(t, {"exemplar_size": 31})], "cannot take 31 / 255 px crops"),
    "template_crop 0": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                   _config(t, model={"template_crop": 0})], "template_crop"),
    "context_amount nan": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                      _config(t, {"context_amount": float("nan")})], "context_amount"),
    "stride 16": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                             _config(t, {"stride": 16})], "stride"),
    "channels huge": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                 _config(t, model={"channels": 10**9})], "model.channels' must be at most"),
    "benchmark override misfit": (lambda t: ["track", write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                             _benchmark_config(t)], "benchmarks.VOT2018"),
    # training values
    "warmup_start_lr 0": (lambda t: ["train", _config(t, train={"warmup_start_lr": 0.0, "warmup_epochs": 1}),
                                     "--output", t / "run"], "warmup_start_lr"),
    "base_lr 0": (lambda t: ["train", _config(t, train={"base_lr": 0.0}), "--output", t / "run"], "base_lr"),
    "log_every 0": (lambda t: ["train", _config(t, train={"log_every": 0}), "--output", t / "run"], "log_every"),
    "num_workers -1": (lambda t: ["train", _config(t, train={"num_workers": -1}), "--output", t / "run"],
                       "num_workers"),
    "frame_range -1": (lambda t: ["train", _frame_range_config(t), "--output", t / "run"], "frame_range"),
    "seed -1 in config": (lambda t: ["train", _config(t, train={"seed": -1}), "--output", t / "run"], "seed"),
    "--seed -1": (lambda t: ["train", _config(t, train={}), "--output", t / "run", "--seed", "-1"], "--seed"),
    "--workers -1": (lambda t: ["train", _config(t, train={}), "--output", t / "run", "--workers", "-1"],
                     "--workers"),
    # frame / box count mismatch: one rule for training and evaluation
    "training count mismatch": (lambda t: ["train", _train_config(t, "5,5,20,20\n" * 3), "--output", t / "run"],
                                "groundtruth_rect.txt has 3 annotation lines but 2 images were found"),
    "eval count mismatch": (lambda t: ["eval", _otb(t, "5,5,20,20\n" * 3), "--format", "otb", "--results", t / "r"],
                            "groundtruth_rect.txt has 3 annotation lines but 2 images were found"),
    # export, tune, demo
    "export opset 999": (lambda t: ["export", "--onnx", t / "o", "--opset", "999"], "--opset must be between 17"),
    "export opset 11": (lambda t: ["export", "--onnx", t / "o", "--opset", "11"], "--opset must be between 17"),
    "tune max-frames -1": (lambda t: ["tune", _otb(t), "--format", "otb", "--max-frames", "-1"], "--max-frames"),
    "tune max-frames 1": (lambda t: ["tune", _otb(t), "--format", "otb", "--max-frames", "1"], "--max-frames"),
    "tune range wi": (lambda t: ["tune", _otb(t), "--format", "otb", "--range", "window_influence=-1:2"],
                      "leaves the values window_influence can take"),
    "tune range lr": (lambda t: ["tune", _otb(t), "--format", "otb", "--range", "lr=0.5:1.5"], "lr=0.5:1.5"),
    "tune range penalty_k": (lambda t: ["tune", _otb(t), "--format", "otb", "--range", "penalty_k=-1:1"],
                             "penalty_k"),
    "tune range inf": (lambda t: ["tune", _otb(t), "--format", "otb", "--range", "penalty_k=0:inf"], "penalty_k"),
    "tune device bogus": (lambda t: ["tune", _otb(t), "--format", "otb", "--device", "bogus", "--trials", "1"],
                          "unknown --device"),
    "tune unknown benchmark": (lambda t: ["tune", _otb(t), "--format", "otb", "--benchmark", "NOPE"],
                               "drop --benchmark 'NOPE'"),
    "demo frames huge": (lambda t: ["demo", "--output", t / "d", "--frames", str(10**9)], "--frames must be between"),
    "demo video name": (lambda t: ["demo", "--output", t / "d", "--video", "../x.gif"], "not a plain name"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _garbage_onnx(t: Path) -> Path:
    d = t / "garbage"
    d.mkdir()
    for n in ("template.onnx", "track.onnx"):
        (d / n).write_bytes(os.urandom(500))
    return d


def _utf16_config(t: Path) -> Path:
    p = t / "c16.yaml"
    p.write_bytes("name: x\nmodel: {backbone: efficientnet_lite0}\n".encode("utf-16"))
    return p


def _benchmark_config(t: Path) -> Path:
    p = _config(t)
    data = yaml.safe_load(p.read_text())
    data["benchmarks"] = {"VOT2018": {"instance_size": 287}}
    p.write_text(yaml.safe_dump(data))
    return p


def _frame_range_config(t: Path) -> Path:
    p = _config(t, train={})
    data = yaml.safe_load(p.read_text())
    data["train"]["datasets"][0]["frame_range"] = -1
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line(tmp_path, capsys, case):
    spec, needle = BAD_INPUT[case]
    frames = write_frames(tmp_path / "frames")
    argv = spec(tmp_path) if callable(spec) else [frames if a == FRAMES else a for a in spec]
    rc, err = run_cli(argv, capsys)
    assert_one_line(rc, err, needle)


def test_huge_max_frames_tracks_the_whole_source(tmp_path, capsys):
    frames = write_frames(tmp_path / "frames", 3)
    out = tmp_path / "o.txt"
    assert main(["track", str(frames), "--init", "10,10,30,30", "--max-frames", str(10**30), "--output", str(out),
                 "--no-progress"]) == 0
    assert len(out.read_text().splitlines()) == 3


def test_crop_never_allocates_a_huge_patch():
    from siamcan.errors import SiamcanError
    from siamcan.tracking.geometry import crop_patch

    img = np.zeros((120, 160, 3), np.uint8)
    with pytest.raises(SiamcanError, match="too large"):
        crop_patch(img, (80, 60), 255, 200_000, (0, 0, 0))  # 112 GiB of padding before this check


def test_network_map_size_mismatch_is_named():
    """A tracker config passed from Python that does not fit the network: one clear error, not deep in NumPy."""
    import dataclasses

    from siamcan.config import TrackerConfig
    from siamcan.errors import SiamcanError
    from siamcan.tracking.tracker import SiamCANTracker

    class Engine:
        def template(self, crop):
            return ()

        def track(self, crop, state):
            return np.zeros((2, 25, 25), np.float32), np.full((4, 25, 25), 10.0, np.float32)

    tr = SiamCANTracker(Engine(), dataclasses.replace(TrackerConfig(), instance_size=271, score_size=27))
    frame = np.zeros((120, 160, 3), np.uint8)
    tr.init(frame, (10, 10, 30, 30))
    with pytest.raises(SiamcanError, match="25x25 score maps but tracker.score_size is 27"):
        tr.update(frame)


def test_size_check_measures_the_network():
    """The config check reads the map size off the network itself, for every backbone and head."""
    import dataclasses

    from siamcan.models import check_tracker_fits, network_score_size
    from siamcan.zoo import resolve_config

    for name, cases in (("siamcan-lite", ((127, 255, 25), (127, 271, 27), (79, 239, 23))),
                        ("siamcan-nano", ((127, 255, 15), (127, 287, 17)))):
        cfg = resolve_config(name)
        from siamcan.models import build_model

        m = build_model(cfg)
        for z, x, want in cases:
            assert network_score_size(m, z, x) == want, (name, z, x)
            check_tracker_fits(cfg, m, {"t": dataclasses.replace(cfg.tracker, exemplar_size=z, instance_size=x,
                                                                 score_size=want)})


# ---------------------------------------------------------------------------------------------- interrupts
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_tune_summarises_finished_trials(dev_otb, tmp_path, sig):
    from test_eval_cli import _cut_otb

    data = _cut_otb(dev_otb, tmp_path / "d", ["dog"], n=8)
    log = tmp_path / "trials.csv"
    with CliChild(["tune", data, "--format", "otb", "--trials", "500", "--log", log,
                   "--write-config", tmp_path / "tuned.yaml"]) as child:
        child.wait_for(rb"tune:[^\r\n]*?\b([3-9]|\d\d+)/500", tail=1 << 30)  # a few trials finished
        child.send_signal(sig)
        rc = child.wait(60)
        out, err = child.out.decode(), child.err.decode(errors="replace")
    assert rc == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    m = re.search(r"interrupted after (\d+) of 500 trials; success AUC on d: [\d.]+ with the config's values, "
                  r"best [\d.]+ with window_influence=", err)
    assert m, err
    assert len(log.read_text().splitlines()) == int(m.group(1)) + 1  # the finished trials, header first
    assert not (tmp_path / "tuned.yaml").exists() and "success AUC" not in out  # no config from a partial search


def _children(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("how", ["two Ctrl-C", "SIGKILL"])
def test_eval_workers_never_outlive_the_run(dev_otb, tmp_path, how):
    imgs = sorted((dev_otb / "Human3" / "img").iterdir())
    first = (dev_otb / "Human3" / "groundtruth_rect.txt").read_text().splitlines()[0]
    data = tmp_path / "long"
    for seq in ("s1", "s2", "s3"):
        (data / seq / "img").mkdir(parents=True)
        for i in range(400):
            (data / seq / "img" / f"{i:05d}.jpg").symlink_to(imgs[i % len(imgs)])
        (data / seq / "groundtruth_rect.txt").write_text((first + "\n") * 400)
    with CliChild(["eval", data, "--format", "otb", "--workers", "2", "--results", tmp_path / "r"]) as child:
        t0 = time.time()
        workers: set[int] = set()
        while time.time() - t0 < 180:  # both workers started and busy (spawn children of the eval process)
            workers = {k for k in _children(child.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()}
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2, child.err.decode(errors="replace")
        time.sleep(3)  # inside the tracking loop
        if how == "SIGKILL":
            child.kill()
        else:
            child.send_signal(signal.SIGINT)
            time.sleep(0.2)
            child.send_signal(signal.SIGINT)
        child.wait(60)
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:  # never leave them to the next test
        os.kill(w, signal.SIGKILL)
    assert not left, f"worker(s) {left} still running after the parent ended ({how})"

"""The rest of the hostile-input probe (issue 26, item 3): every case ends in one line naming the problem - exit 2 for
bad input, exit 1 for a full disk - with no traceback and no partial output; a few inputs that were refused but are
fine (an ``--init`` file with a UTF-8 BOM) now work, and absurd counts (``--threads 1024``) are bounded."""
from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from siamcan.cli.main import main

from conftest import run_child, write_vot_squares
from test_reliability_hostile import _config, _otb, assert_one_line, run_cli
from test_reliability_input import write_frames

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ helpers
def png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims ``w`` x ``h`` pixels (its data are a few bytes: it never decodes)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


def bomb_frames(t: Path, which: str) -> Path:
    folder = write_frames(t / f"bomb-{which}", 4)
    (folder / f"{which}.jpg").unlink()
    (folder / f"{which}.png").write_bytes(png_header(20000, 20000))
    return folder


def vot_dataset(t: Path, rows: list[list[float]]) -> list:
    """A two-sequence VOT dataset (12 frames each) and result files holding ``rows`` -> ``siamcan report`` argv."""
    root = write_vot_squares(t / "vot")
    for name in ("a", "b"):
        res = t / "results" / "vot" / "T" / "baseline" / name / f"{name}_001.txt"
        res.parent.mkdir(parents=True)
        res.write_text("".join(",".join(f"{v:g}" for v in r) + "\n" for r in rows))
    return ["report", root, "--format", "vot", "--results", t / "results"]


BOX = [10, 10, 20, 20]


def coco(t: Path, annotations=None, text: str | None = None) -> list:
    """A COCO training dataset whose annotations.json holds ``annotations`` (or the raw ``text``) -> train argv."""
    root = t / "coco"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((120, 160, 3), np.uint8))[1].tobytes())
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 160, "height": 120}], "annotations": annotations}
    (root / "annotations.json").write_text(text if text is not None else json.dumps(data))
    cfg = _config(t, train={"datasets": [{"name": "c", "format": "coco", "root": str(root)}]})
    return ["train", cfg, "--output", t / "run"]


def train_argv(t: Path, **train) -> list:
    return ["train", _config(t, train=train), "--output", t / "run"]


def corrupt_nanotrack(t: Path) -> Path:
    d = t / "nano"
    d.mkdir()
    for name in ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx"):
        (d / name).write_bytes(os.urandom(500))
    return d


def weights(t: Path, how: str) -> Path:
    """siamcan-nano's shipped weights with every floating tensor made int8 / bool, or one tensor made NaN."""
    from safetensors.torch import load_file, save_file

    from siamcan.zoo import packaged_weights, resolve_config

    sd = load_file(str(packaged_weights(resolve_config("siamcan-nano"))))
    if how == "nan":
        key = next(k for k, v in sd.items() if v.is_floating_point() and v.numel() > 4)
        sd[key] = torch.full_like(sd[key], float("nan"))
    else:
        dtype = {"int8": torch.int8, "bool": torch.bool}[how]
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    path = t / f"w-{how}.safetensors"
    save_file(sd, str(path))
    return path


def duplicate_key_config(t: Path) -> Path:
    p = t / "dup.yaml"
    p.write_text("name: x\ntracker:\n  lr: 0.3\n  window_influence: 0.4\n  lr: 0.5\n")
    return p


def still_dataset(t: Path) -> Path:
    """Two OTB sequences of one still image: the tracker never leaves the target (no negative frame)."""
    root = t / "still"
    img = np.full((120, 160, 3), 60, np.uint8)
    cv2.rectangle(img, (60, 40), (90, 80), (255, 255, 255), -1)
    for s in ("a", "b"):
        (root / s / "img").mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(root / s / "img" / f"{i + 1:04d}.jpg"), img)
        (root / s / "groundtruth_rect.txt").write_text("60,40,31,41\n" * 4)
    return root


FRAMES = "FRAMES"  # a folder of 4 frames (160x120)
TRACK = ["track", FRAMES, "--init", "10,10,20,20"]

# case -> (argv, or a function of tmp_path giving it; a needle of the one error line)
CASES = {
    # tracebacks before
    "png header 20000x20000 (first)": (lambda t: ["track", bomb_frames(t, "0001"), "--init", "10,10,20,20",
                                                  "--output", t / "o.txt"], "0001.png in"),
    "png header 20000x20000 (later)": (lambda t: ["track", bomb_frames(t, "0003"), "--init", "10,10,20,20",
                                                  "--output", t / "o.txt"], "is too large to read"),
    "init 1e-300": (["track", FRAMES, "--init", "10,10,1e-300,1e-300"], "init box is too small"),
    "report --bootstrap 1e12": (lambda t: ["report", _otb(t), "--format", "otb", "--results", t,
                                           "--bootstrap", "1000000000000"],
                                "--bootstrap must be between 0 and 100000"),
    "vot code 7": (lambda t: vot_dataset(t, [[1]] + [BOX] * 5 + [[7]] + [BOX] * 5), "row 7: unknown VOT code 7"),
    "vot 3-value rows": (lambda t: vot_dataset(t, [[1]] + [[10, 10, 20]] * 11), "row 2: expected a code"),
    "vot no init row": (lambda t: vot_dataset(t, [[0]] + [BOX] * 11), "must be the init code 1"),
    "vot short file": (lambda t: vot_dataset(t, [[1], BOX]), "has 2 rows, sequence a has 12 frames"),
    "nanotrack-cv2 corrupt onnx": (lambda t: ["eval", _otb(t), "--format", "otb", "--tracker", "nanotrack-cv2",
                                              "--nanotrack-dir", corrupt_nanotrack(t), "--results", t / "r"],
                                   "opencv cannot load the nanotrack onnx files"),
    "train --seed 2**70": (lambda t: train_argv(t) + ["--seed", str(2**70)], "'train.seed' must be at most"),
    "coco without image_id": (lambda t: coco(t, [{"id": 1, "bbox": BOX}]), "annotation 1 needs an image_id"),
    "coco annotations null": (lambda t: coco(t, None), "'annotations' must be a list, got NoneType"),
    "coco nested 100000 deep": (lambda t: coco(t, text="[" * 100_000 + "]" * 100_000), "nested too deeply"),
    # accepted silently, but wrong, before
    "save-video .png": (TRACK + ["--save-video", "o.png"], "'.png' is a still-image format"),
    "save-video .JPG": (TRACK + ["--save-video", "o.JPG"], "'.jpg' is a still-image format"),
    "save-video no extension": (TRACK + ["--save-video", "o"], "has no extension"),
    "calibrate --plot .xyz": (lambda t: ["calibrate", _otb(t), "--plot", t / "r.xyz"], "cannot write a 'xyz' image"),
    "demo --video .png": (lambda t: ["demo", "--output", t / "d", "--video", "o.png"], "--video o.png: '.png' is a"),
    "track --output ''": (TRACK + ["--output", ""], "--output is an empty string"),
    "train --output ''": (lambda t: ["train", _config(t, train={}), "--output", ""], "--output is an empty string"),
    "track SOURCE ''": (["track", "", "--init", "1,1,5,5"], "source is an empty string"),
    "momentum 2": (lambda t: train_argv(t, momentum=2), "'train.momentum' must be below 1"),
    "warmup_epochs > epochs": (lambda t: train_argv(t, warmup_epochs=3), "'train.warmup_epochs' must be at most"),
    "duplicate yaml keys": (lambda t: TRACK[:1] + [write_frames(t / "f", 2), "--init", "1,1,5,5", "--model",
                                                   duplicate_key_config(t)], "duplicate key 'lr' (line 5)"),
    "bench --warmup -1": (["bench", "--warmup", "-1"], "--warmup must be between 0"),
    "bench --warmup = --frames": (["bench", "--warmup", "10", "--frames", "10"], "--warmup must be between 0"),
    # hangs and blow-ups before
    "epochs 10**30": (lambda t: train_argv(t, epochs=10**30), "'train.epochs' must be at most 100000"),
    "pairs_per_epoch 10**12": (lambda t: train_argv(t, pairs_per_epoch=10**12),
                               "'train.pairs_per_epoch' must be at most 10000000"),
    "--pairs-per-epoch 10**12": (lambda t: train_argv(t) + ["--pairs-per-epoch", str(10**12)],
                                 "'train.pairs_per_epoch' must be at most"),
    # loaded without a word before
    "int8 weights": (lambda t: TRACK[:1] + [write_frames(t / "f", 2), "--init", "1,1,5,5", "--weights",
                                            weights(t, "int8")], "is int8, expected floating-point weights"),
    "bool weights": (lambda t: TRACK[:1] + [write_frames(t / "f", 2), "--init", "1,1,5,5", "--weights",
                                            weights(t, "bool")], "is bool, expected floating-point weights"),
    "nan weights": (lambda t: TRACK[:1] + [write_frames(t / "f", 2), "--init", "1,1,5,5", "--weights",
                                           weights(t, "nan")], "non-finite value"),
    "calibrate without negative frames": (lambda t: ["calibrate", still_dataset(t), "--format", "otb"],
                                          "calibration needs frames where the box overlaps the target and frames "
                                          "where it does not"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line(tmp_path, capsys, monkeypatch, case):
    if case.startswith("nanotrack-cv2") and not hasattr(cv2, "TrackerNano_create"):
        pytest.skip("this OpenCV build has no cv2.TrackerNano")
    monkeypatch.chdir(tmp_path)  # relative outputs (o.png) land here
    spec, needle = CASES[case]
    frames = write_frames(tmp_path / "frames")
    argv = spec(tmp_path) if callable(spec) else [frames if a == FRAMES else a for a in spec]
    before = {p for p in tmp_path.rglob("*")}
    rc, err = run_cli(argv, capsys)
    assert_one_line(rc, err, needle)
    new = {p for p in tmp_path.rglob("*")} - before
    assert not [p for p in new if p.suffix in (".txt", ".png", ".jpg", ".JPG", ".xyz") or p.name == "o"], new


def test_vot_results_that_are_valid_still_score(tmp_path, capsys):
    """The checks refuse nothing a VOT run writes: init, boxes, a failure, skipped frames, a re-init, polygons."""
    rows = [[1], BOX, BOX, [2], [0], [0], [0], [0], [0], [1], [10, 10, 30, 10, 30, 30, 10, 30], BOX]
    argv = vot_dataset(tmp_path, rows) + ["--json", tmp_path / "m.json"]
    rc, err = run_cli(argv, capsys)
    assert rc == 0, err
    m = json.loads((tmp_path / "m.json").read_text())["trackers"]["T"]
    assert m["failures"] == 2  # one per sequence


def test_bootstrap_at_the_bound_is_accepted(tmp_path, capsys):
    from siamcan.cli.report import MAX_BOOTSTRAP

    assert MAX_BOOTSTRAP == 100_000
    data = _otb(tmp_path)
    rc, err = run_cli(["report", data, "--format", "otb", "--results", tmp_path, "--bootstrap", "-1"], capsys)
    assert_one_line(rc, err, "--bootstrap must be between 0 and 100000")


# --------------------------------------------------------------------------------------- refused, but fine
def test_init_file_with_a_utf8_bom(tmp_path, capsys):
    frames = write_frames(tmp_path / "frames")
    box_file = tmp_path / "init.txt"
    box_file.write_bytes(b"\xef\xbb\xbf10,12,20,22\n11,12,20,22\n")
    out = tmp_path / "o.txt"
    rc, err = run_cli(["track", frames, "--init", box_file, "--output", out], capsys)
    assert rc == 0, err
    first = [float(v) for v in out.read_text().splitlines()[0].split(",")]
    assert first == [10, 12, 20, 22]


def test_threads_above_the_cpus_are_clamped_with_a_note(tmp_path, capsys, monkeypatch):
    import siamcan.threads as threads

    assert threads.check_threads(threads.available_cpus()) == threads.available_cpus()
    cpus = 1  # as on a 1-CPU machine (and 1 thread is quick on shared cores)
    monkeypatch.setattr(threads, "available_cpus", lambda: cpus)
    frames = write_frames(tmp_path / "frames", 3)
    rc, err = run_cli(["track", frames, "--init", "10,10,20,20", "--output", tmp_path / "o.txt", "--threads", "1024"],
                      capsys)
    assert rc == 0, err
    assert torch.get_num_threads() == cpus
    notes = [ln for ln in err.splitlines() if "note:" in ln]
    assert notes == [f"siamcan: note: --threads 1024 is more than the {cpus} CPU(s) this process may use; "
                     f"using {cpus}"], err


def test_init_box_at_the_minimum_side_tracks(tmp_path, capsys):
    frames = write_frames(tmp_path / "frames", 3)
    rc, err = run_cli(["track", frames, "--init", "10,10,0.1,0.1", "--output", tmp_path / "o.txt"], capsys)
    assert rc == 0, err
    assert len((tmp_path / "o.txt").read_text().splitlines()) == 3


# ------------------------------------------------------------------------------------------- --resume state.pt
@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A 2-epoch run stopped after its first epoch (its second checkpoint removed): ``--resume`` continues it."""
    t = tmp_path_factory.mktemp("stopped")
    cfg = _config(t, train={"epochs": 2, "pairs_per_epoch": 2, "batch_size": 2,
                            "datasets": [{"name": "d", "format": "otb", "root": str(_otb(t))}]})
    out = t / "run"
    torch.set_num_threads(1)
    assert main(["train", str(cfg), "--output", str(out), "--no-progress"]) == 0
    shutil.rmtree(out / "checkpoints" / "epoch-001")
    return out


def _mutate(state: dict, how: str):
    if how == "no keys":
        return {}
    if how == "no epoch":
        return {k: v for k, v in state.items() if k != "epoch"}
    if how == "a list":
        return [1, 2]
    value = {"epoch as text": ("epoch", "zero"), "negative step": ("global_step", -5),
             "float rng": ("torch_rng", torch.zeros(10)), "short rng": ("torch_rng", torch.zeros(10, dtype=torch.uint8)),
             "optimizer list": ("optimizer", [1, 2]),
             "optimizer without groups": ("optimizer", {"state": {}, "param_groups": []}),
             "epoch of another folder": ("epoch", 5)}[how]
    return {**state, value[0]: value[1]}


@pytest.mark.parametrize("how, needle", [
    ("no keys", "state.pt lacks epoch, global_step, optimizer, scaler, torch_rng"),
    ("no epoch", "state.pt lacks epoch;"),
    ("a list", "state.pt holds a list, expected a dict"),
    ("epoch as text", "'epoch' must be a whole number >= 0, got str"),
    ("negative step", "'global_step' must be a whole number >= 0"),
    ("float rng", "'torch_rng' must be a uint8 tensor, got a torch.float32 tensor"),
    ("short rng", "state.pt does not fit"),
    ("optimizer list", "'optimizer' must be an optimizer state dict"),
    ("optimizer without groups", "optimizer state in the last checkpoint's state.pt does not fit"),
    ("epoch of another folder", "says epoch 6, its folder epoch-000 epoch 1"),
])
def test_resume_from_a_bad_state_is_one_line(stopped_run, tmp_path, capsys, how, needle):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    state_pt = run / "checkpoints" / "epoch-000" / "state.pt"
    torch.save(_mutate(torch.load(state_pt, weights_only=True), how), state_pt)
    rc, err = run_cli(["train", run / "config.yaml", "--output", run, "--resume", "--no-progress"], capsys)
    assert_one_line(rc, err, needle)
    assert not (run / "checkpoints" / "epoch-001").exists()


def test_resume_from_a_good_state_still_works(stopped_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    rc, err = run_cli(["train", run / "config.yaml", "--output", run, "--resume", "--no-progress"], capsys)
    assert rc == 0, err
    assert (run / "checkpoints" / "epoch-001" / "state.pt").is_file()


# ------------------------------------------------------------------------------------------- a full disk
FSIZE_CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from siamcan.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE + SIGXFSZ as on Linux")
@pytest.mark.parametrize("name, limit", [
    ("v.mp4", 0),  # the header cannot be written: FFmpeg crashed (SIGSEGV) when PyAV wrote it again
    pytest.param("v.mp4", 20_000, marks=pytest.mark.slow),  # frames fail mid-way
    pytest.param("v.mkv", 0, marks=pytest.mark.slow),
    pytest.param("v.gif", 3_000, marks=pytest.mark.slow),
    pytest.param("v.avi", 3_000, marks=pytest.mark.slow),  # OpenCV reports nothing: the frames are counted back
    pytest.param("v.avi", 20_000, marks=pytest.mark.slow),  # the AVI header claims 20 frames, one decodes
])
def test_video_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, name, limit):
    frames = write_frames(tmp_path / "frames", 20)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TQDM_DISABLE": "1"}
    proc = run_child([sys.executable, "-c", FSIZE_CHILD, str(limit), "track", str(frames), "--init",
                      "10,10,50,50", "--threads", "1", "--output", str(tmp_path / "o.txt"), "--save-video",
                      str(out / name)], 300, env=env)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 1, err  # an environment failure, not bad input (and not -11, SIGSEGV)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert lines[0].startswith("siamcan track: error: ") and lines[0].endswith(str(out / name)), lines[0]
    assert sorted(p.name for p in out.iterdir()) == []  # neither the video nor its temp file
    assert not (tmp_path / "o.txt").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc (a folder no file can be made in)")
def test_unwritable_output_names_the_output_not_its_temp_file(tmp_path, capsys):
    frames = write_frames(tmp_path / "frames", 3)
    assert main(["track", str(frames), "--init", "10,10,50,50", "--threads", "1", "--no-progress",
                 "--output", "/proc/siamcan-boxes.txt"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("siamcan track: error: ") and err.endswith(": /proc/siamcan-boxes.txt"), err

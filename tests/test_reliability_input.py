"""Bad input is rejected with one clear line, exit code 2 and no traceback - CLI and Python API (issue 7)."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import siamcan
from siamcan.cli.main import main
from siamcan.config import ModelConfig
from siamcan.errors import SiamcanError
from siamcan.models import build_model, save_model
from siamcan.tracking.tracker import SiamCANTracker

from conftest import run_child

pytestmark = pytest.mark.usefixtures("one_thread")  # steadier on shared cores


def write_frames(folder: Path, n: int = 4, size: tuple[int, int] = (160, 120)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        img = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i + 1:04d}.jpg"), img)
    return folder


@pytest.fixture
def frames(tmp_path) -> Path:
    return write_frames(tmp_path / "frames")


def cli(args: list[str], capsys) -> tuple[int, str]:
    """Run ``siamcan ARGS`` in-process; return (exit code, stderr)."""
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    return rc, err


def assert_user_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


# ------------------------------------------------------------------------------------- init box
@pytest.mark.parametrize("init, needle", [
    ("500,10,20,20", "outside the 160x120 frame"),
    ("-50,-50,20,20", "outside"),
    ("10,10,0,20", "positive width and height"),
    ("10,10,20,-5", "positive width and height"),
    ("10,nan,20,20", "non-finite"),
    ("10,10,inf,20", "non-finite"),
    ("10,10,20", "4 values"),
    ("10,10,20,20,5", "4 values"),
    ("a,b,c,d", "cannot parse box"),
    ("nosuchfile.txt", "--init nosuchfile.txt: no such box file"),
    ("boxes/first.txt", "no such box file"),
])
def test_bad_init_box(frames, tmp_path, capsys, init, needle):
    rc, err = cli(["track", frames, f"--init={init}", "--output", tmp_path / "o.txt"], capsys)
    assert_user_error(rc, err, needle)
    assert not (tmp_path / "o.txt").exists()


# ---------------------------------------------------------------------------------------- sources
def test_missing_empty_corrupt_sources(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    for src, needle in [(tmp_path / "missing.mp4", "not found"), (empty, "empty"), (junk, "cannot read video"),
                        (text, "cannot read video"), (empty_dir, "no images")]:
        rc, err = cli(["track", src, "--init", "1,1,5,5"], capsys)
        assert_user_error(rc, err, needle)


def test_mixed_sizes_and_unreadable_folders(tmp_path, capsys):
    mixed = write_frames(tmp_path / "mixed", 3)
    cv2.imwrite(str(mixed / "0004.jpg"), np.zeros((100, 100, 3), np.uint8))
    rc, err = cli(["track", mixed, "--init", "1,1,5,5"], capsys)
    assert_user_error(rc, err, "0004.jpg is 100x100", "mixed image sizes")

    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"{i}.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    rc, err = cli(["track", broken, "--init", "1,1,5,5"], capsys)
    assert_user_error(rc, err, "none of the 3 images")

    first_bad = write_frames(tmp_path / "first_bad", 3)
    (first_bad / "0001.jpg").write_bytes(b"garbage")
    rc, err = cli(["track", first_bad, "--init", "1,1,5,5"], capsys)
    assert_user_error(rc, err, "first frame", "cannot be decoded")


# ---------------------------------------------------------------------------- configs and weights
def test_bad_config_names_the_key(frames, tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nmodel:\n  backbone: efficientnet_lite0\n  chanels: 128\n")
    rc, err = cli(["track", frames, "--init", "1,1,5,5", "--model", cfg], capsys)
    assert_user_error(rc, err, "unknown config key 'model.chanels'")
    cfg.write_text("name: x\nmodel:\n  backbone: efficientnet_lite0\n  spatial_attention: maybe\n")
    rc, err = cli(["track", frames, "--init", "1,1,5,5", "--model", cfg], capsys)
    assert_user_error(rc, err, "'model.spatial_attention' must be true/false")
    rc, err = cli(["track", frames, "--init", "1,1,5,5", "--model", "siamcan-r49"], capsys)
    assert_user_error(rc, err, "unknown model 'siamcan-r49'")


def test_bad_weights(frames, tmp_path, capsys):
    narrow = tmp_path / "narrow.safetensors"
    save_model(build_model(ModelConfig(backbone="efficientnet_lite0", channels=64)), narrow)
    rc, err = cli(["track", frames, "--init", "1,1,5,5", "--model", "siamcan-lite", "--weights", narrow], capsys)
    assert_user_error(rc, err, "does not fit this model",
                      "cls.0.conv_kernel.0.weight (64, 64, 3, 3) vs (128, 128, 3, 3)")
    rc, err = cli(["track", frames, "--init", "1,1,5,5", "--weights", narrow], capsys)  # the default is siamcan-nano
    assert_user_error(rc, err, "does not fit this model", "missing: backbone.features.0.0.weight")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(300))
    truncated = tmp_path / "trunc.pth"
    truncated.write_bytes(b"PK\x03\x04" + os.urandom(100))
    text = tmp_path / "notes.txt"
    text.write_text("these are not weights\n" * 20)
    for w, needle in [(tmp_path / "none.pth", "not found"), (empty, "empty"),
                      (junk, "not a valid safetensors file"), (truncated, "could not be read"),
                      (text, "neither a safetensors file nor a torch checkpoint")]:
        rc, err = cli(["track", frames, "--init", "1,1,5,5", "--weights", w], capsys)
        assert_user_error(rc, err, needle)


def test_bad_output_paths_and_options(frames, tmp_path, capsys, monkeypatch):
    rc, err = cli(["track", frames, "--init", "1,1,5,5", "--output", tmp_path], capsys)
    assert_user_error(rc, err, "is a folder")
    rc, err = cli(["track", frames, "--init", "1,1,5,5", "--output", tmp_path / "o.txt",
                   "--save-video", tmp_path], capsys)
    assert_user_error(rc, err, "is a folder")
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO())  # a script, no terminal: no --init fails at once (issue 24)
    assert main(["track", str(frames)]) == 2
    err = capsys.readouterr().err
    assert "--init X,Y,W,H" in err and "--init browser" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_subprocess_errors_have_no_traceback(frames, tmp_path):
    """The installed ``siamcan`` command itself: bad box and a corrupt video, exit 2, stderr one line."""
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(os.urandom(4000))
    exe = [sys.executable, "-m", "siamcan.cli.main"]
    for args, needle in [(["track", str(frames), "--init", "1,1,0,5"], "positive width"),
                         (["track", str(junk), "--init", "1,1,5,5"], "cannot read video")]:
        p = run_child(exe + args, text=True, timeout=120)
        assert p.returncode == 2, p.stderr
        assert "Traceback" not in p.stderr and needle in p.stderr
        assert len([ln for ln in p.stderr.splitlines() if "error:" in ln]) == 1


# ------------------------------------------------------------------------------------ Python API
class ZeroEngine:
    name = "zero"

    def template(self, crop):
        return ()

    def track(self, crop, state):
        return np.zeros((2, 25, 25), np.float32), np.full((4, 25, 25), 10.0, np.float32)


@pytest.mark.parametrize("box, needle", [
    ((500, 10, 20, 20), "outside"), ((10, 10, 0, 5), "positive"), ((10, 10, -3, 5), "positive"),
    ((10, math.nan, 5, 5), "non-finite"), ((1, 2, 3), "4 values"), ((1, 2, 3, 4, 5), "4 values"),
    ("1,2,3,4", "4 numbers"), (None, "4 numbers"), (("a", 1, 2, 3), "4 numbers"),
])
def test_api_rejects_bad_boxes(box, needle):
    tr = SiamCANTracker(ZeroEngine())
    with pytest.raises(SiamcanError, match=needle):
        tr.init(np.zeros((120, 160, 3), np.uint8), box)


@pytest.mark.parametrize("frame", [None, np.zeros((120, 160), np.uint8), np.zeros((120, 160, 4), np.uint8),
                                   np.zeros((120, 160, 3), np.float32), np.zeros((1, 1, 3), np.uint8), "img.jpg"])
def test_api_rejects_bad_frames(frame):
    tr = SiamCANTracker(ZeroEngine())
    with pytest.raises(SiamcanError, match="frame"):
        tr.init(frame, (1, 1, 5, 5))
    tr.init(np.zeros((120, 160, 3), np.uint8), (1, 1, 5, 5))
    with pytest.raises(SiamcanError, match="frame"):
        tr.update(frame)


def test_api_bad_model_and_weights(tmp_path):
    with pytest.raises(SiamcanError, match="unknown model"):
        siamcan.Tracker.from_pretrained("no-such-model")
    with pytest.raises(SiamcanError, match="not found"):
        siamcan.Tracker.from_pretrained("siamcan-lite", weights=tmp_path / "x.safetensors")
    with pytest.raises(SiamcanError, match="backend"):
        siamcan.Tracker.from_pretrained("siamcan-lite", backend="warp-drive")

"""The package as pip installs it from a wheel (not the editable checkout): weights, model card and every config
inside, and the default tracker loads from the installed files alone."""
from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import run_child

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src-tree"  # build from a copy: nothing (build/, egg-info) is written into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp / "dist"
    proc = run_child([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                      "-w", str(out), str(src)], text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("siamcan-*.whl")
    return whl


def test_wheel_holds_weights_card_and_every_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "siamcan/weights/siamcan-lite.safetensors" in names
    assert "siamcan/weights/siamcan-lite.md" in names
    assert "siamcan/weights/siamcan-nano.safetensors" in names  # the default model
    assert "siamcan/weights/siamcan-nano.md" in names
    configs = sorted(p.name for p in (REPO / "src/siamcan/configs").glob("*.yaml"))
    assert len(configs) >= 17
    assert [n for n in configs if f"siamcan/configs/{n}" not in names] == []
    for sub in ("cli", "models", "data", "training", "tracking", "evaluation"):
        assert f"siamcan/{sub}/__init__.py" in names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "siamcan = siamcan.cli.main:main" in entry
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/") or "__pycache__" in n]


def test_wheel_holds_the_web_page(wheel):
    """Everything the local page serves (siamcan.web.server.STATIC, uPlot and its licence included) is in the
    wheel: the page works offline from an installed package."""
    from siamcan.web.server import STATIC

    names = set(zipfile.ZipFile(wheel).namelist())
    assert [n for n in STATIC if f"siamcan/web/static/{n}" not in names] == []
    assert "siamcan/web/static/vendor/uPlot.LICENSE" in names


def test_installed_wheel_tracks_from_its_own_files(wheel, tmp_path, dev_otb):
    """Unpacked wheel first on sys.path, run from an unrelated folder: the shipped weights and configs are found
    inside the installed package, and the tracker follows Human3 for a few frames."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    seq = dev_otb / "Human3"
    code = f"""
import siamcan, numpy as np
from siamcan.zoo import packaged_weights, resolve_config
assert siamcan.__file__.startswith({str(site)!r}), siamcan.__file__
assert str(packaged_weights(resolve_config(None))).startswith({str(site)!r})
assert "siamcan-lite" in siamcan.available_models() and "siamcan-r50" in siamcan.available_models()
t = siamcan.Tracker.from_pretrained(device="cpu")
steps = list(t.track({str(seq / "img")!r}, (264, 311, 37, 69), max_frames=10))
print(len(steps), steps[-1].box)
"""
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")
    proc = run_child([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True,
                     timeout=300)
    assert proc.returncode == 0, proc.stderr
    n, box = proc.stdout.split(" ", 1)
    assert n == "10"
    x, y, w, h = (float(v) for v in box.strip("[]\n").split(","))
    gt = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().splitlines()[9].replace("\t", ",").split(",")]
    assert abs(x + w / 2 - gt[0] - gt[2] / 2) < 10 and abs(y + h / 2 - gt[1] - gt[3] / 2) < 10

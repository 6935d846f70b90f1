"""Shared fixtures. Real data is read from ../shared/data beside the checkout; tests that need it skip cleanly
when it is absent (SIAMCAN_SHARED_DATA overrides the location)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SIAMCAN_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def shared_path(shared_data: Path, rel: str, must_exist: str = "") -> Path:
    """``shared_data / rel``, or skip the test when it (or the file ``must_exist`` inside it) is absent."""
    p = shared_data / rel
    if not (p / must_exist if must_exist else p).exists():
        pytest.skip(f"{rel}/{must_exist} not in shared data")
    return p


@pytest.fixture(scope="session")
def dev_otb(shared_data) -> Path:
    return shared_path(shared_data, "dev/otb-format")


@pytest.fixture(scope="session")
def oracles(shared_data) -> Path:
    return shared_path(shared_data, "oracles")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ---------------------------------------------------------------- core model / tracker fixtures (issue 2, 7)
@pytest.fixture(scope="session")
def lite_model():
    """siamcan-lite with its ImageNet backbone and seeded (untrained) heads, eval mode, on CPU."""
    from siamcan.models import build_model, load_backbone_weights
    from siamcan.zoo import resolve_config

    cfg = resolve_config("siamcan-lite")
    torch.manual_seed(0)
    model = build_model(cfg.model)
    load_backbone_weights(model.backbone)
    return model.eval(), cfg


def make_image_folder(src: Path, dst: Path, n: int) -> Path:
    """A folder of symlinks to the first ``n`` images of ``src`` (no copies of shared data)."""
    from siamcan.tracking.sources import list_images

    dst.mkdir(parents=True, exist_ok=True)
    for p in list_images(src)[:n]:
        (dst / p.name).symlink_to(p)
    return dst


@pytest.fixture
def human3_30(dev_otb, tmp_path) -> tuple[Path, list[float]]:
    """(folder of symlinks to the first 30 Human3 frames, first-frame box)."""
    seq = dev_otb / "Human3"
    folder = make_image_folder(seq / "img", tmp_path / "human3_30", 30)
    first = (seq / "groundtruth_rect.txt").read_text().splitlines()[0]
    return folder, [float(v) for v in first.replace("\t", ",").split(",")]


# ------------------------------------------------------------------ training data generated on the fly (issue 4)
def _write_otb_sequence(folder: Path, n: int, size: tuple[int, int], rng: np.random.Generator,
                        gt_name: str = "groundtruth.txt", nan_rows: tuple[int, ...] = ()) -> None:
    """An OTB-style sequence: noisy frames with a bright moving rectangle, one x,y,w,h line per frame."""
    import cv2

    (folder / "img").mkdir(parents=True, exist_ok=True)
    h, w = size
    lines = []
    for i in range(n):
        img = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
        bw, bh = w // 4, h // 3
        x, y = 4 + 2 * i, 5 + i
        img[y:y + bh, x:x + bw] = (40, 200, 240)
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.jpg"), img)
        lines.append("nan,nan,nan,nan" if i in nan_rows else f"{x},{y},{bw},{bh}")
    (folder / gt_name).write_text("\n".join(lines) + "\n")


@pytest.fixture
def otb_train_data(tmp_path) -> Path:
    """tmp OTB-layout training set: 3 sequences of 6 small frames (one with a nan row)."""
    rng = np.random.default_rng(7)
    root = tmp_path / "otb"
    _write_otb_sequence(root / "seqA", 6, (48, 64), rng)
    _write_otb_sequence(root / "seqB", 6, (60, 50), rng, nan_rows=(2,))
    _write_otb_sequence(root / "group" / "seqC", 5, (40, 72), rng, gt_name="groundtruth_rect.txt")
    return root


@pytest.fixture(scope="session")
def val_otb(shared_data) -> Path:
    return shared_path(shared_data, "val/otb-format")


@pytest.fixture(scope="session")
def dev_vot(shared_data) -> Path:
    return shared_path(shared_data, "dev/vot-format")


@pytest.fixture(scope="session")
def nanotrack_v2(shared_data) -> Path:
    return shared_path(shared_data, "baselines/nanotrack/nanotrackv2", "nanotrack_backbone_sim.onnx")


@pytest.fixture(scope="session")
def nanotrack_v3(shared_data) -> Path:
    return shared_path(shared_data, "baselines/nanotrack/nanotrackv3", "nanotrack_backbone.onnx")


@pytest.fixture(scope="session")
def nanotrack_v3_weights(shared_data) -> Path:
    return shared_path(shared_data, "baselines/nanotrack/pretrained", "nanotrackv3.safetensors") / \
        "nanotrackv3.safetensors"


@pytest.fixture
def one_thread():
    """One torch intra-op thread for the test (restored afterwards): on CPU cores shared with other jobs two
    spinning threads can be many times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ `siamcan track` in a child process, then a signal
def track_then_signal(args: list, sig: int, min_frames: int = 0, settle: float = 0.0,
                      timeout: float = 120) -> tuple[int, str, str]:
    """Run ``siamcan track *args`` in a child process, wait until its progress bar shows ``min_frames`` frames (then
    ``settle`` seconds more), send ``sig`` and return (exit code, stdout, stderr)."""
    import re
    import subprocess
    import sys
    import threading
    import time

    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", TQDM_DISABLE="")  # the bar is awaited
    proc = subprocess.Popen([sys.executable, "-m", "siamcan.cli.main", "track", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    chunks: list[bytes] = []
    reached = threading.Event()
    bar = re.compile(rb"track:[^\r\n\[]*?(\d+)(?:/\d+ |frame )\[")  # "45/1500 [" or, with no total, "45frame ["

    def reader() -> None:
        while b := proc.stderr.read1(4096):
            chunks.append(b)
            counts = bar.findall(b"".join(chunks)[-4096:])
            if counts and int(counts[-1]) >= min_frames:
                reached.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert reached.wait(timeout), b"".join(chunks).decode(errors="replace")
    time.sleep(settle)
    proc.send_signal(sig)
    stdout = proc.stdout.read()
    rc = proc.wait(timeout)
    t.join(10)
    return rc, stdout.decode(errors="replace"), b"".join(chunks).decode(errors="replace")

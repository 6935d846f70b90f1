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
# nothing of the test run under ~/.cache: ONNX Runtime's telemetry files (siamcan.ortenv; tests import onnxruntime
# themselves) and siamcan's dataset index cache (a fresh folder per run)
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
if "SIAMCAN_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["SIAMCAN_CACHE"] = tempfile.mkdtemp(prefix="siamcan-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SIAMCAN_CACHE"], True)


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


def write_vot_squares(root: Path, names=("a", "b"), n: int = 12) -> Path:
    """A VOT-layout dataset at ``root``: sequences ``names`` of ``n`` black 64x48 frames, each with the same square
    polygon ground truth, and their list.txt (for report / eval tests that need a small VOT set)."""
    import cv2

    img = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()
    for name in names:
        (root / name / "color").mkdir(parents=True)
        for i in range(n):
            (root / name / "color" / f"{i + 1:08d}.jpg").write_bytes(img)
        (root / name / "groundtruth.txt").write_text("10,10,30,10,30,30,10,30\n" * n)
    (root / "list.txt").write_text("".join(f"{name}\n" for name in names))
    return root


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


# ------------------------------------------------------------------------------ the CLI in a child process
def default_sigint() -> None:
    """``preexec_fn`` of every child that may be sent SIGINT: its default disposition, explicitly. A shell that starts
    the test run in the background (``cmd &``) leaves SIGINT ignored in its children, and Python keeps an ignored
    SIGINT ignored: the child would never see Ctrl-C (issue 26)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _own_group_default_sigint() -> None:
    os.setsid()
    default_sigint()


def run_child(argv: list, timeout: float, **kw):
    """``subprocess.run(argv, capture_output=True, timeout=timeout, **kw)`` whose child gets a process group of its
    own and the default SIGINT disposition: on a timeout, or any exception while waiting (Ctrl-C), the whole group
    (torchrun's ranks, DataLoader workers) is killed, not only the direct child."""
    import signal
    import subprocess

    with subprocess.Popen(list(map(str, argv)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, preexec_fn=_own_group_default_sigint, **kw) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate(timeout=30)
            raise
        finally:
            try:  # workers the child left running
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class CliChild:
    """``python -m siamcan.cli.main *args`` in a child process (a process group of its own, SIGINT at its default)
    whose stdout and stderr are read by threads as they come (``out``, ``err``: the bytes so far), so that no wait
    blocks on a pipe. Use as a context manager: leaving the block kills the child if it is still running, and on a
    failed assertion or a timeout its whole group; every wait is bounded."""

    def __init__(self, args: list, env_extra: dict | None = None, program: list | None = None,
                 cwd=None, stdin=None, env: dict | None = None):
        """``program``: what runs ``args`` (default: ``python -m siamcan.cli.main``); ``env_extra``: variables
        set (or, with the value None, unset) in the child; ``env``: its whole environment instead of this
        process's; ``cwd``; ``stdin`` (default: none, as a script's; a pty's end for a terminal)."""
        import subprocess
        import sys
        import threading

        base = os.environ if env is None else env
        env = dict(base, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", TQDM_DISABLE="", **(env_extra or {}))
        env = {k: v for k, v in env.items() if v is not None}  # env_extra {NAME: None}: NAME unset in the child
        program = program or [sys.executable, "-m", "siamcan.cli.main"]
        self.proc = subprocess.Popen([*program, *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL if stdin is None else stdin,
                                     env=env, cwd=cwd, preexec_fn=_own_group_default_sigint)
        self.pid = self.proc.pid
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._threads = [threading.Thread(target=self._read, args=(f, into), daemon=True)
                         for f, into in ((self.proc.stdout, self._out), (self.proc.stderr, self._err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(f, into: list[bytes]) -> None:
        while b := f.read1(4096):
            into.append(b)

    @property
    def out(self) -> bytes:
        return b"".join(self._out)

    @property
    def err(self) -> bytes:
        return b"".join(self._err)

    def wait_for(self, pattern: bytes, timeout: float = 180, tail: int = 4096):
        """Wait (at most ``timeout`` s) until stderr's last ``tail`` bytes match ``pattern``; fails with stderr if it
        does not come or the child ends first."""
        import re
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.err[-tail:])
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen (exit {self.proc.poll()}):\n"
                             + self.err.decode(errors="replace")[-2000:])

    def first_line(self, timeout: float = 180) -> str:
        """Stdout's first line, waited for at most ``timeout`` s."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"\n" in self.out:
                return self.out.split(b"\n", 1)[0].decode(errors="replace")
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line on stdout within {timeout} s (exit {self.proc.poll()}):\n"
                             + self.err.decode(errors="replace")[-2000:])

    def poll(self):
        return self.proc.poll()

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()

    def wait(self, timeout: float = 120) -> int:
        """The exit status, once the child ended and its pipes are read to the end (at most ``timeout`` s)."""
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(timeout)
        return rc

    def __enter__(self) -> "CliChild":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        import signal
        import subprocess

        if exc_type is not None:  # a failed test: the child and everything it started (its own process group)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        for t in self._threads:
            t.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def track_then_signal(args: list, sig: int, min_frames: int = 0, settle: float = 0.0,
                      timeout: float = 120) -> tuple[int, str, str]:
    """Run ``siamcan track *args`` in a child process, wait until its progress bar shows ``min_frames`` frames (then
    ``settle`` seconds more), send ``sig`` and return (exit code, stdout, stderr). Every wait is bounded by
    ``timeout``; the child is killed if anything fails."""
    import re
    import time

    bar = rb"track:[^\r\n\[]*?(\d+)(?:/\d+ |frame )\["  # "45/1500 [" or, with no total, "45frame ["
    with CliChild(["track", *args]) as child:
        deadline = time.monotonic() + timeout
        while True:
            counts = re.findall(bar, child.err[-4096:])
            if counts and int(counts[-1]) >= min_frames:
                break
            if child.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the bar never showed {min_frames} frames (exit {child.proc.poll()}):\n"
                                     + child.err.decode(errors="replace")[-2000:])
            time.sleep(0.05)
        time.sleep(settle)
        child.send_signal(sig)
        rc = child.wait(timeout)
        return rc, child.out.decode(errors="replace"), child.err.decode(errors="replace")

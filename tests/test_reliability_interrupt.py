"""Interrupting ``siamcan track`` (SIGTERM / Ctrl-C) loses nothing finished: outputs are complete or absent (issue 7)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from siamcan.fileio import atomic_write_text, read_boxes, write_boxes
from siamcan.tracking.sources import list_images
from siamcan.tracking.video import VideoWriter

from conftest import CliChild, run_child, track_then_signal


def _long_folder(dev_otb: Path, dst: Path, n: int) -> tuple[Path, str]:
    """``n`` frames of symlinks cycling over Human3 (long enough that tracking is still running when killed)."""
    seq = dev_otb / "Human3"
    imgs = list_images(seq / "img")
    dst.mkdir()
    for i in range(n):
        (dst / f"{i + 1:05d}.jpg").symlink_to(imgs[i % len(imgs)])
    init = (seq / "groundtruth_rect.txt").read_text().splitlines()[0]
    return dst, init


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_track_leaves_complete_or_no_outputs(dev_otb, tmp_path, sig):
    folder, init = _long_folder(dev_otb, tmp_path / "seq", 1500)
    out, video = tmp_path / "boxes.txt", tmp_path / "out.mp4"
    rc, _, err = track_then_signal([folder, "--init", init, "--output", out, "--save-video", video, "--device", "cpu",
                                    "--backend", "eager"], sig, settle=1.0)  # some frames tracked, far from finished
    assert rc == 130, err  # handled like Ctrl-C, not killed
    assert "interrupted" in err and "Traceback" not in err
    # never a partial file: absent, or (had it finished) complete
    if out.exists():
        assert read_boxes(out).shape == (1500, 4)
    assert not video.exists()  # the partial video was dropped
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left behind


# ------------------------------------------------------------------------------ the tests' own child processes
def test_children_get_sigint_even_when_the_test_run_ignores_it():
    """A test run started in the background by a shell (``pytest &``) has SIGINT ignored, and so would every child
    it starts: a child sent SIGINT would then run on (issue 26). The helpers give children the default disposition."""
    import sys

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = "import signal, sys; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    try:
        r = run_child([sys.executable, "-c", code], timeout=60, text=True)
        assert r.stdout.strip() == "True", r.stderr
        with CliChild([], program=[sys.executable, "-c", code]) as child:
            assert child.wait(60) == 0 and child.out.strip() == b"True", child.err
        with CliChild(["--help"]) as child:  # and by default it runs the CLI
            assert child.wait(60) == 0 and b"track" in child.out
    finally:
        signal.signal(signal.SIGINT, before)


def test_no_test_starts_a_child_process_without_the_helpers():
    """Every child process of the suite comes from conftest's ``run_child`` / ``CliChild`` / ``track_then_signal``:
    bounded waits (reads included), SIGINT at its default, the child killed when the test fails."""
    import re

    here = Path(__file__).parent
    found = [f"{p.name}:{i}: {line.strip()}" for p in sorted(here.glob("test_*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\bsubprocess\.(run|Popen|call|check_call|check_output)\b|\bos\.(system|popen|fork)\(", line)]
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------------ atomic writes
class Boom(KeyboardInterrupt):
    pass


def test_atomic_write_interrupted_keeps_old_content(tmp_path, monkeypatch):
    target = tmp_path / "r.txt"
    write_boxes(target, [[1, 2, 3, 4]])
    old = target.read_text()

    def interrupted_fsync(fd: int) -> None:
        raise Boom

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(Boom):
        atomic_write_text(target, "partial\n" * 1000)
    assert target.read_text() == old
    with pytest.raises(Boom):
        atomic_write_text(tmp_path / "new.txt", "x")
    assert not (tmp_path / "new.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_video_writer_is_atomic(tmp_path, suffix):
    frame = np.zeros((48, 64, 3), np.uint8)
    path = tmp_path / f"v{suffix}"
    w = VideoWriter(str(path), 10)
    for _ in range(3):
        w.write(frame, [5, 5, 10, 10])
    assert not path.exists()  # nothing at the target until the video is complete
    w.close()
    assert path.exists() and path.stat().st_size > 0
    aborted = VideoWriter(str(tmp_path / f"a{suffix}"), 10)
    aborted.write(frame, [5, 5, 10, 10])
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]

"""What a hostile-input probe found (issue 26, part A): the program cleans up only what it created, reads and writes
only under the paths it was given, leaves nothing behind after a kill once a later run succeeds, prints one line for
bad input (not the libraries' own messages), and says where it writes outside the run's folders."""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from siamcan.cli.main import main
from siamcan.fileio import atomic_write_text, remove_stale_temps, stale_temps

from conftest import CliChild
from test_reliability_input import write_frames

pytestmark = pytest.mark.usefixtures("one_thread")

DEAD_PID = 4194305  # above Linux's largest pid_max (2**22): never a live process


def run_cli(argv: list, capsys) -> tuple[int, str, str]:
    """``siamcan ARGV`` in-process -> (exit code, stdout, stderr); argparse's own errors (SystemExit) included."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------------------------------------------ temp files: only ours
def test_only_this_programs_dead_temp_files_are_stale(tmp_path):
    """``.NAME.siamcan-PID-RANDOM.tmp[SUFFIX]`` whose PID has ended: nothing else, however much it looks like one."""
    dead = [f".r.txt.siamcan-{DEAD_PID}-ab12.tmp", f".o.mp4.siamcan-{DEAD_PID}-x.tmp.mp4",
            f".epoch-003.siamcan-{DEAD_PID}-k2_j3.tmp"]
    kept = [f".r.txt.siamcan-{os.getpid()}-ab12.tmp",  # this process: still writing
            f".r.txt.siamcan-{os.getppid()}-ab12.tmp",  # a live process
            ".mydata.tmp", "notes.tmp", ".r.txt.tmp", ".r.txt.1234.tmp", "r.txt", f"r.txt.siamcan-{DEAD_PID}-a.tmp",
            f".r.txt.siamcan-{DEAD_PID}-ab12.tmp.d/x", f".r.txt.siamcan-x{DEAD_PID}-ab.tmp"]
    for name in dead + kept:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    assert [p.name for p in stale_temps(tmp_path)] == sorted(dead)
    assert [p.name for p in stale_temps(tmp_path, "r.txt")] == [dead[0]]
    assert sorted(p.name for p in remove_stale_temps(tmp_path)) == sorted(dead)
    assert stale_temps(tmp_path) == [] and all((tmp_path / n).exists() for n in kept)


def test_a_finished_write_removes_dead_leftovers_of_its_file_only(tmp_path):
    left = tmp_path / f".r.txt.siamcan-{DEAD_PID}-ab12.tmp"
    other = tmp_path / f".s.txt.siamcan-{DEAD_PID}-ab12.tmp"
    mine = tmp_path / ".r.txt.tmp"
    for p in (left, other, mine):
        p.write_text("half")
    atomic_write_text(tmp_path / "r.txt", "done\n")
    assert (tmp_path / "r.txt").read_text() == "done\n"
    assert not left.exists() and other.exists() and mine.exists()


def test_train_keeps_a_users_tmp_folder(tmp_path, capsys):
    """``siamcan train --output run`` where ``run/`` holds ``.mydata.tmp/``: the config is refused (no datasets),
    and whatever happens the user's folder stays (issue 26: it was deleted as a killed run's file)."""
    from siamcan.training.resume import clean_stale_files

    run = tmp_path / "run"
    (run / ".mydata.tmp").mkdir(parents=True)
    (run / ".mydata.tmp" / "a.txt").write_text("mine")
    (run / "x.safetensors.tmp").write_text("mine")
    assert clean_stale_files(run) == []
    cfg = tmp_path / "c.yaml"
    nano = Path(__file__).resolve().parents[1] / "src" / "siamcan" / "configs" / "siamcan-nano.yaml"
    cfg.write_text(f"base: {nano}\ntrain: {{datasets: [{{format: otb, root: {tmp_path / 'nothing'}}}], "
                   "pretrained_backbone: false, teacher: null, init_weights: null}\n")
    rc, _, err = run_cli(["train", cfg, "--output", run, "--device", "cpu", "--no-progress"], capsys)
    assert rc == 2 and "nothing" in err and "Traceback" not in err, err
    assert (run / ".mydata.tmp" / "a.txt").read_text() == "mine" and (run / "x.safetensors.tmp").exists()


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_video_of_a_killed_run_is_removed_by_the_next_run(tmp_path, capsys, suffix):
    """SIGKILL during ``siamcan track --save-video o.mp4|o.gif`` leaves its hidden temp video; the next run that
    saves ``o.mp4`` removes it (and the same leftover under the name used before issue 26)."""
    frame = write_frames(tmp_path / "one", n=1) / "0001.jpg"
    long = tmp_path / "long"
    long.mkdir()
    for i in range(3000):
        (long / f"{i:05d}.jpg").symlink_to(frame)
    video = tmp_path / f"o{suffix}"
    with CliChild(["track", long, "--init", "50,40,40,30", "--save-video", video, "--device", "cpu",
                   "--output", tmp_path / "b" / "long.txt"]) as child:
        child.wait_for(rb"track:[^\r\n\[]*?\b([3-9]\d|\d{3,})(?:/\d+ )\[", timeout=240)  # some frames written
        child.send_signal(signal.SIGKILL)
        child.wait(60)
        pid = child.pid
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(left) == 1 and re.fullmatch(rf"\.o{re.escape(suffix)}\.siamcan-{pid}-\w+\.tmp{re.escape(suffix)}",
                                           left[0]), left
    legacy = tmp_path / f".o.{DEAD_PID}.tmp{suffix}"  # the temp name before issue 26
    legacy.write_bytes(b"half")
    rc, _, err = run_cli(["track", tmp_path / "one", "--init", "50,40,40,30", "--save-video", video,
                          "--output", tmp_path / "b" / "one.txt", "--device", "cpu", "--no-progress"], capsys)
    assert rc == 0, err
    assert video.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

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


# ------------------------------------------------------------------------------ reads outside the named paths
@pytest.mark.parametrize("file_name", ["../../..", "../outside.jpg", "a/../../outside.jpg", "/etc/passwd", "", 7])
def test_coco_file_names_stay_inside_the_image_folder(tmp_path, file_name):
    """A COCO ``file_name`` that is absolute or climbs out of the image folder is refused with one line naming it
    (issue 26: ``/etc/passwd`` was opened as a training image)."""
    import json

    from siamcan.datasets import read_dataset
    from siamcan.errors import SiamcanError

    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    write_frames(root / "images", n=1)
    data = {"images": [{"id": 1, "file_name": "0001.jpg"}, {"id": 2, "file_name": file_name}],
            "annotations": [{"id": 1, "image_id": 1, "bbox": [5, 5, 20, 20]},
                            {"id": 2, "image_id": 2, "bbox": [5, 5, 20, 20]}]}
    (root / "annotations.json").write_text(json.dumps(data))
    with pytest.raises(SiamcanError, match=r"image 2 file_name .*(outside the dataset root|relative path)"):
        read_dataset("coco", root)
    data["images"] = data["images"][:1]  # the same file without it: read, the image inside the folder
    (root / "annotations.json").write_text(json.dumps(data))
    (seq,) = read_dataset("coco", root).sequences
    assert seq.frames == [str(root / "images" / "0001.jpg")]


def _otb(base: Path) -> Path:
    data = base / "ds"
    write_frames(data / "seqA" / "img", 3)
    (data / "seqA" / "groundtruth_rect.txt").write_text("50,40,40,30\n" * 3)
    return data


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("cwd, path", [("", "ds/seqA/.."), ("", "ds/seqA/../"), ("ds", "."), ("ds/seqA", "..")])
def test_eval_and_report_name_results_after_the_folder_itself(tmp_path, capsys, monkeypatch, cwd, path):
    """``siamcan eval ds/seqA/..`` named its dataset "..": results went to the parent of --results, and ``report``
    read from there (``.`` named it "": results/TRACKER). The path is resolved before anything is named after it."""
    _otb(tmp_path)
    monkeypatch.chdir(tmp_path / cwd)
    res = tmp_path / "work" / "res"
    before = _files(tmp_path)
    rc, out, err = run_cli(["eval", path, "--format", "otb", "--results", res, "--no-progress", "--device", "cpu"],
                           capsys)
    assert rc == 0, err
    new = _files(tmp_path) - before
    assert "work/res/ds/siamcan-nano/seqA.txt" in new and all(f.startswith("work/res/ds/siamcan-nano/") for f in new)
    rc, out, err = run_cli(["report", path, "--format", "otb", "--results", res], capsys)
    assert rc == 0 and "siamcan-nano" in out, err


def test_eval_of_an_annotation_file_that_names_no_plain_dataset_is_refused(tmp_path, capsys, monkeypatch):
    """An annotation file named ``...json`` gave the dataset name "..": refused with one line, nothing written."""
    import json

    data = _otb(tmp_path)
    anno = data / "...json"
    anno.write_text(json.dumps({"seqA": {"video_dir": "seqA", "init_rect": [50, 40, 40, 30], "attr": [],
                                         "img_names": [f"seqA/img/{i:04d}.jpg" for i in (1, 2, 3)],
                                         "gt_rect": [[50, 40, 40, 30]] * 3}}))
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    for argv in (["eval", anno, "--format", "json", "--results", "work/res", "--device", "cpu"],
                 ["report", anno, "--format", "json", "--results", "work/res"]):
        rc, out, err = run_cli(argv, capsys)
        assert rc == 2 and "Traceback" not in err, err
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(lines) == 1 and "dataset name" in lines[0] and "'..'" in lines[0], err
    assert _files(tmp_path) == before


# ------------------------------------------------------------------------------------------------------ noise
def _truncated_video(path: Path) -> Path:
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for i in range(10):
        w.write(np.full((120, 160, 3), 20 * i, np.uint8))
    w.release()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])  # mp4v writes its index (moov) last: gone
    return path


@pytest.mark.parametrize("case", ["random bytes .mp4", "truncated .mp4", "bad frames in a folder"])
def test_bad_input_is_exactly_one_line(tmp_path, capfd, case):
    """libjpeg's "Premature end of JPEG file" and FFmpeg's "moov atom not found" went to the terminal before
    siamcan's own line; the frame-decode warning went to stdout. Now: stderr holds exactly siamcan's one line, at
    the level of the file descriptor (what the C libraries write is captured too), stdout only the summary."""
    if case == "random bytes .mp4":
        source = tmp_path / "junk.mp4"
        source.write_bytes(np_bytes(4000))
        want_rc, want = 2, "cannot read video"
    elif case == "truncated .mp4":
        source = _truncated_video(tmp_path / "t.mp4")
        want_rc, want = 2, "cannot read video"
    else:
        source = write_frames(tmp_path / "f", n=5)
        (source / "0002.jpg").write_bytes(np_bytes(3000))  # not an image: carried, one warning
        data = (source / "0004.jpg").read_bytes()
        (source / "0004.jpg").write_bytes(data[:len(data) // 2])  # truncated: libjpeg decodes what is there
        want_rc, want = 0, "frame 2 (0002.jpg) cannot be decoded"
    capfd.readouterr()
    rc, out, err = run_cli(["track", source, "--init", "50,40,40,30", "--output", tmp_path / "b.txt",
                            "--device", "cpu", "--no-progress"], capfd)
    assert rc == want_rc, err
    assert len(err.splitlines()) == 1 and want in err, err
    assert not re.search(r"moov|JPEG|@ 0x|Traceback", err + out)
    if rc == 0:
        assert len(out.splitlines()) == 1 and out.startswith("tracked 5 frames"), out


def np_bytes(n: int) -> bytes:
    import numpy as np

    return np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()


# ----------------------------------------------------------------------------- outside the run's folders
def test_index_cache_is_where_siamcan_cache_says_and_off_when_asked(tmp_path, monkeypatch):
    """Training's parsed VID / DET index: under $SIAMCAN_CACHE (default ~/.cache/siamcan), nothing at all with
    SIAMCAN_NO_INDEX_CACHE=1, and no temp file left either way."""
    from siamcan.datasets import read_dataset

    root = tmp_path / "det"
    write_frames(root / "Data/DET/train/a", n=1)
    (root / "Data/DET/train/a/0001.jpg").rename(root / "Data/DET/train/a/img1.JPEG")
    xml = root / "Annotations/DET/train/a/img1.xml"
    xml.parent.mkdir(parents=True)
    xml.write_text("<annotation><object><name>n0</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>40</xmax>"
                   "<ymax>30</ymax></bndbox></object></annotation>")
    cache = tmp_path / "cache"
    monkeypatch.setenv("SIAMCAN_CACHE", str(cache))
    monkeypatch.setenv("SIAMCAN_NO_INDEX_CACHE", "1")
    assert len(read_dataset("det", root).sequences) == 1
    assert not cache.exists()
    monkeypatch.delenv("SIAMCAN_NO_INDEX_CACHE")
    assert len(read_dataset("det", root).sequences) == 1
    files = [p.name for p in cache.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].startswith("det-") and files[0].endswith(".json"), files


def test_onnx_runtime_writes_nothing_in_home(tmp_path):
    """ONNX Runtime >= 1.29 writes a telemetry device id and database under ~/.cache/Microsoft when imported;
    siamcan turns that off (ORT_DISABLE_TELEMETRY=1 unless set): ``siamcan track`` on the onnx backend leaves the
    home folder empty."""
    pytest.importorskip("onnxruntime")
    home = tmp_path / "home"
    home.mkdir()
    frames = write_frames(tmp_path / "f", n=3)
    with CliChild(["track", frames, "--init", "50,40,40,30", "--output", tmp_path / "b.txt", "--device", "cpu",
                   "--backend", "onnx", "--no-progress"],
                  env_extra={"HOME": str(home), "ORT_DISABLE_TELEMETRY": None, "XDG_CACHE_HOME": None,
                             "SIAMCAN_CACHE": None}) as child:
        assert child.wait(180) == 0, child.err.decode(errors="replace")
    assert (tmp_path / "b.txt").is_file()
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []

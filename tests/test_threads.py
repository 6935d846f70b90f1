"""``--threads`` on track / eval / tune / train (as bench), and a default that copes with a busy machine (issue 19,
item 1): ``physical cores - 1``, at least 1 - see ``benchmarks/bench_threads.py`` and the README's Speed section."""
from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import siamcan.tracking.fast as fast
from siamcan.cli.main import main
from siamcan.threads import default_threads

from test_reliability_input import write_frames


@pytest.fixture(autouse=True)
def keep_threads():
    import cv2

    before, cv_before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(before)
    cv2.setNumThreads(cv_before)


def tiny_onnx(folder: Path, swapped: bool = False, one_input: bool = False) -> Path:
    """template.onnx + track.onnx with siamcan's signature (constant maps), built in milliseconds."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def model(graph):
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)

    f = TensorProto.FLOAT
    t_graph = helper.make_graph([helper.make_node("Identity", ["template"], ["state_0"])], "template",
                                [helper.make_tensor_value_info("template", f, [1, 3, 127, 127])],
                                [helper.make_tensor_value_info("state_0", f, [1, 3, 127, 127])])
    consts = [helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name))
              for name, arr in (("cls", np.zeros((1, 2, 25, 25), np.float32)),
                                ("loc", np.full((1, 4, 25, 25), 10, np.float32)))]
    inputs = [helper.make_tensor_value_info("search", f, [1, 3, 255, 255])]
    if not one_input:
        inputs.append(helper.make_tensor_value_info("state_0", f, [1, 3, 127, 127]))
    x_graph = helper.make_graph(consts, "track", inputs, [helper.make_tensor_value_info("cls", f, [1, 2, 25, 25]),
                                                          helper.make_tensor_value_info("loc", f, [1, 4, 25, 25])])
    folder.mkdir(parents=True, exist_ok=True)
    names = ("track.onnx", "template.onnx") if swapped else ("template.onnx", "track.onnx")
    onnx.save(model(t_graph), str(folder / names[0]))
    onnx.save(model(x_graph), str(folder / names[1]))
    return folder


@pytest.mark.parametrize("cores, expected", [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_default_leaves_one_core(monkeypatch, cores, expected):
    monkeypatch.setattr(fast, "physical_cores", lambda: cores)
    assert default_threads() == expected


def test_track_threads_and_default(tmp_path, capsys):
    import cv2

    frames = write_frames(tmp_path / "seq" / "img", 3)
    for extra, want in ((["--threads", "2"], 2), ([], default_threads())):
        assert main(["track", str(frames), "--init", "10,10,30,30", "--output", str(tmp_path / "o.txt"),
                     "--no-progress", *extra]) == 0
        assert torch.get_num_threads() == want and cv2.getNumThreads() == want


def test_eval_and_tune_threads(tmp_path, capsys):
    import cv2

    data = tmp_path / "data"
    write_frames(data / "seqA" / "img", 3)
    (data / "seqA" / "groundtruth_rect.txt").write_text("10,10,30,30\n" * 3)
    assert main(["eval", str(data), "--format", "otb", "--results", str(tmp_path / "r"), "--threads", "2",
                 "--no-progress"]) == 0
    assert torch.get_num_threads() == 2
    assert main(["tune", str(data), "--format", "otb", "--trials", "1", "--max-frames", "2", "--threads", "1",
                 "--no-progress"]) == 0
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1


@pytest.mark.parametrize("command", [
    ["track", "SRC", "--init", "1,1,5,5"], ["eval", "SRC", "--format", "otb"], ["tune", "SRC", "--format", "otb"],
    ["train", "siamcan-lite"], ["demo"],
])
@pytest.mark.parametrize("value", ["0", "-2", "100000"])
def test_bad_thread_counts_are_one_line(tmp_path, capsys, command, value):
    src = write_frames(tmp_path / "f", 2)
    argv = [str(src) if a == "SRC" else a for a in command] + ["--threads", value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--threads must be between 1 and" in err and "Traceback" not in err


def test_onnx_backend_follows_the_thread_count(tmp_path):
    from siamcan.zoo import make_engine

    d = tiny_onnx(tmp_path / "onnx")
    for n in (1, 2):
        torch.set_num_threads(n)
        engine = make_engine(None, backend="onnx", onnx_dir=d)
        assert engine.t_sess.get_session_options().intra_op_num_threads == n


_FRAMES_LOOP = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from siamcan.threads import keep_frame_memory
    assert keep_frame_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # the dynamic mmap threshold rises past a frame's size
    a = np.ones(720 * 1280 * 3, np.uint8); b = np.ones(720 * 1280 * 3, np.uint8); del a, b
f0 = faults()
for _ in range(20):  # two 1280x720 frame buffers a frame, as cv2.imread + one copy
    a = np.ones(720 * 1280 * 3, np.uint8); b = np.ones(720 * 1280 * 3, np.uint8); del a, b
print((faults() - f0) / 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc only")
def test_keep_frame_memory_stops_refaulting_every_frame():
    """Without it glibc hands the freed top of the heap back after every frame and faults ~1,350 pages (two 2.8 MB
    buffers) in again on the next; with it the pages stay (the cause of issue 25's slow ``cv2.imread`` in eval)."""
    import os

    from conftest import run_child

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    per_frame = {}
    for mode in ("plain", "keep"):
        proc = run_child([sys.executable, "-c", _FRAMES_LOOP, mode], 120, env=env)
        assert proc.returncode == 0, proc.stderr.decode()
        per_frame[mode] = float(proc.stdout.decode().strip())
    assert per_frame["plain"] > 1000  # the glibc behaviour this guards against, as measured
    assert per_frame["keep"] < 10

"""MultiTracker (issue 23): several targets, one batched network call per frame, each target's boxes those of a single
tracker on the same frames (every backend, a real multi-object clip), add/remove mid-video, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from siamcan.errors import SiamcanError
from siamcan.tracking.multi import MultiTracker
from siamcan.tracking.tracker import SiamCANTracker
from siamcan.zoo import load_model, make_engine

pytestmark = pytest.mark.usefixtures("one_thread")

# MOT17-04: every id folder holds the same 8 frames. 068/069 overlap, 080 sticks out of the left edge, 072 out of
# the top one
IDS = ["001", "002", "068", "069", "080", "072"]
TOL = 1e-3  # px


@pytest.fixture(scope="module")
def mot(shared_data):
    from siamcan.tracking.sources import FrameSource

    from conftest import shared_path

    root = shared_path(shared_data, "train/mot", f"MOT17-04-FRCNN_id{IDS[0]}")
    frames = list(FrameSource(root / f"MOT17-04-FRCNN_id{IDS[0]}" / "img"))
    gt = {}
    for i in ["001", "002", "068", "069", "080", "072", "005", "006"]:
        rows = (root / f"MOT17-04-FRCNN_id{i}" / "groundtruth.txt").read_text().split()
        gt[i] = [[float(v) for v in r.split(",")] for r in rows]
    assert len(frames) == 8 and all(len(g) == 8 for g in gt.values())
    return frames, gt


@pytest.fixture(scope="module")
def nano():
    return load_model("siamcan-nano")


def _single(engine, cfg, frames, box) -> np.ndarray:
    t = SiamCANTracker(engine, cfg)
    t.init(frames[0], box)
    return np.array([box] + [t.update(f)[0] for f in frames[1:]])


def _engines(nano, tmp_path=None):
    model, cfg = nano
    out = {b: make_engine(model, "cpu", b, cfg=cfg) for b in ("eager", "fast", "onnx")}
    if tmp_path is not None:  # ONNX Runtime on the files of `siamcan export` (batch-1 graphs: one run per target)
        from siamcan.tracking.export import export_onnx
        from siamcan.tracking.onnx_engine import OnnxEngine

        export_onnx(model, cfg, tmp_path / "onnx", check=False)
        out["onnx-files"] = OnnxEngine(tmp_path / "onnx")
    return out


@pytest.mark.slow
def test_each_target_equals_a_single_tracker_on_a_real_clip_every_backend(mot, nano, tmp_path, monkeypatch):
    frames, gt = mot
    _, cfg = nano
    boxes = [gt[i][0] for i in IDS]
    for name, eng in _engines(nano, tmp_path).items():
        calls = []
        if hasattr(eng, "track_batch"):
            orig = eng.track_batch
            monkeypatch.setattr(eng, "track_batch", lambda c, s, orig=orig: calls.append(len(c)) or orig(c, s))
        mt = MultiTracker(eng, cfg.tracker)
        steps = list(mt.track(frames, boxes))
        assert calls == [len(IDS)] * (len(frames) - 1), name  # one network call per frame, all targets in it
        assert [s.index for s in steps] == list(range(8)) and [t.id for t in steps[0].targets] == list(range(6))
        for k, box in enumerate(boxes):
            multi = np.array([s.targets[k].box for s in steps])
            single = _single(eng, cfg.tracker, frames, box)
            assert np.abs(multi - single).max() <= TOL, (name, IDS[k])
            if name == "eager":  # tracked, not standing still: the pedestrians walk
                gtk = np.array(gt[IDS[k]])
                centre = lambda b: b[:, :2] + b[:, 2:] / 2  # noqa: E731
                assert np.hypot(*(centre(multi) - centre(gtk)).T).max() < 8, IDS[k]
        monkeypatch.undo()


def test_add_and_remove_mid_video(mot, nano):
    frames, gt = mot
    model, cfg = nano
    eng = make_engine(model, "cpu", "fast", cfg=cfg)
    mt = MultiTracker(eng, cfg.tracker)
    assert mt.init(frames[0], {3: gt["001"][0], 7: gt["002"][0], 1: gt["068"][0]}) == [3, 7, 1]
    got = {3: [gt["001"][0]], 7: [gt["002"][0]], 1: [gt["068"][0]]}
    for n in range(1, 8):
        if n == 3:
            assert mt.add(frames[3], gt["005"][3]) == 8  # one more than the largest id
            got[8] = [gt["005"][3]]
            continue
        if n == 5:
            mt.remove(7)
            assert mt.ids == [3, 1, 8]
        for s in mt.update(frames[n]):
            got[s.id].append(s.box)
    assert len(got[7]) == 4 and len(got[8]) == 5 and len(got[3]) == 7
    for i, key in ((3, "001"), (1, "068")):  # frame 3 skipped by everyone: the single trackers skip it too
        ref = _single(eng, cfg.tracker, frames[:3] + frames[4:], gt[key][0])
        assert np.abs(np.array(got[i]) - ref).max() <= TOL
    ref = _single(eng, cfg.tracker, [frames[k] for k in (0, 1, 2, 4)], gt["002"][0])
    assert np.abs(np.array(got[7]) - ref).max() <= TOL  # until it was removed
    ref = _single(eng, cfg.tracker, frames[3:], gt["005"][3])
    assert np.abs(np.array(got[8]) - ref).max() <= TOL  # from the frame it was added in
    mt.remove(3), mt.remove(1), mt.remove(8)
    assert mt.update(frames[7]) == [] and len(mt) == 0


def _leaving_clip(n: int = 14) -> tuple[list[np.ndarray], list[list[float]]]:
    """Textured frames with a bright target moving right out of the frame and a static dark one."""
    rng = np.random.default_rng(5)
    bg = (rng.random((24, 32, 3)) * 120).astype(np.uint8)
    import cv2

    bg = cv2.resize(bg, (320, 240), interpolation=cv2.INTER_CUBIC)
    frames = []
    for i in range(n):
        f = bg.copy()
        x = 230 + 12 * i
        f[100:140, x:x + 30] = (40, 200, 240)
        f[150:190, 40:70] = (200, 30, 30)
        frames.append(f)
    return frames, [[230, 100, 30, 40], [40, 150, 30, 40]]


@pytest.mark.parametrize("redetect", [False, True])
def test_target_leaving_the_frame(nano, redetect):
    """One target leaves the frame (it gets lost; with re-detection on it searches on its own path) while the
    other stays: both keep a single tracker's boxes, inside the frame, finite."""
    import dataclasses

    model, cfg = nano
    tcfg = dataclasses.replace(cfg.tracker, redetect=redetect)
    frames, boxes = _leaving_clip()
    eng = make_engine(model, "cpu", "fast", cfg=cfg)
    mt = MultiTracker(eng, tcfg)
    steps = list(mt.track(frames, boxes))
    for k, box in enumerate(boxes):
        t = SiamCANTracker(eng, tcfg)
        single = list(t.track(frames, box))
        multi = [s.targets[k] for s in steps]
        assert np.abs(np.array([s.box for s in single]) - np.array([m.box for m in multi])).max() <= TOL
        assert [s.lost for s in single] == [m.lost for m in multi]
        b = np.array([m.box for m in multi])
        assert np.isfinite(b).all() and (b[:, 0] + b[:, 2] / 2 <= 320 + 1e-6).all()
    assert any(s.targets[0].lost for s in steps) and not any(s.targets[1].lost for s in steps)


def test_bad_input_names_the_target(nano):
    model, cfg = nano
    frame = np.zeros((120, 160, 3), np.uint8)
    mt = MultiTracker(make_engine(model, "cpu", "eager"), cfg.tracker)
    with pytest.raises(SiamcanError, match=r"^target 1: init box 200,10,20,20 lies outside the 160x120 frame"):
        mt.init(frame, [[10, 10, 20, 20], [200, 10, 20, 20]])
    assert len(mt) == 0  # nothing set up when one box is refused
    with pytest.raises(SiamcanError, match=r"^target 4: init box must have positive width and height, got w=0"):
        mt.init(frame, {2: [10, 10, 20, 20], 4: [30, 30, 0, 10]})
    mt.init(frame, [[10, 10, 20, 20], [40, 40, 20, 20]])
    with pytest.raises(SiamcanError, match="target id 1 is already tracked"):
        mt.add(frame, [5, 5, 10, 10], id=1)
    with pytest.raises(SiamcanError, match="target 2: init box -50,5,10,10 lies outside"):
        mt.add(frame, [-50, 5, 10, 10])
    with pytest.raises(SiamcanError, match=r"no target with id 9 to remove \(ids: 0, 1\)"):
        mt.remove(9)
    with pytest.raises(SiamcanError, match="target id must be a non-negative integer"):
        mt.add(frame, [5, 5, 10, 10], id="a")
    with pytest.raises(SiamcanError, match="frame must be an HxWx3 uint8"):
        mt.update(np.zeros((10, 10), np.uint8))
    assert mt.ids == [0, 1]


@pytest.mark.parametrize("name", ["siamcan-nano", "siamcan-lite"])
def test_stacked_states_batch_the_network(nano, lite_model, name):
    """The models' track() on N crops with N stacked states gives each target's own maps (eager and the inference
    module: FusedNano, and FusedSiamCAN with per-target search-conv weights)."""
    from siamcan.geometry import CropGeometry
    from siamcan.tracking.engine import stack_states

    model, cfg = nano if name == "siamcan-nano" else lite_model
    geo = CropGeometry.from_config(cfg.tracker)
    fused = model.inference_module()
    g = torch.Generator().manual_seed(0)
    up = torch.nn.functional.interpolate
    z = up(torch.rand(3, 3, 16, 16, generator=g) * 255, size=geo.exemplar_size, mode="bilinear")
    x = up(torch.rand(3, 3, 32, 32, generator=g) * 255, size=geo.instance_size, mode="bilinear")
    with torch.no_grad():
        for net in (model, fused):
            states = [net.template(z[i:i + 1]) for i in range(3)]
            cls, loc = net.track(x, stack_states(states))[:2]
            for i in range(3):
                c1, l1 = net.track(x[i:i + 1], states[i])[:2]
                assert (cls[i] - c1[0]).abs().max() <= 1e-4
                assert (loc[i] - l1[0]).abs().max() <= 1e-5 * float(l1.abs().max())


# ------------------------------------------------------------------------------------------- command line
def _cli(args, capsys) -> tuple[int, str, str]:
    from siamcan.cli.main import main

    rc = main([str(a) for a in args] + ["--no-progress"])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _mot_folder(shared_data):
    from conftest import shared_path

    root = shared_path(shared_data, "train/mot", "MOT17-04-FRCNN_id001")
    first = {i: (root / f"MOT17-04-FRCNN_id{i}" / "groundtruth.txt").read_text().split()[0] for i in ("001", "002",
                                                                                                       "006")}
    return root / "MOT17-04-FRCNN_id001" / "img", first


@pytest.mark.slow
def test_cli_three_targets_mot_file_and_coloured_video(shared_data, tmp_path, capsys):
    """Three --init boxes on a real clip: a MOT-challenge file (read back by the project's reader) whose boxes are
    each a single run's, --scores with an id column, and a video with each id's box in its own colour."""
    import av

    from siamcan.fileio import read_boxes, read_mot
    from siamcan.tracking.video import id_color

    img, first = _mot_folder(shared_data)
    inits = [first["001"], first["002"], first["006"]]  # inside the frame: their outlines are drawn
    args = ["track", img, "--threads", "1", "--output", tmp_path / "t.mot", "--scores", tmp_path / "s.txt",
            "--save-video", tmp_path / "t.mp4"]
    rc, out, err = _cli(args + [a for b in inits for a in ("--init", b)], capsys)
    assert rc == 0, err
    assert "8 frames x 3 targets" in out and "MOT file" in out
    mot = read_mot(tmp_path / "t.mot")
    assert sorted(mot) == [1, 2, 3] and all(sorted(mot[i]) == list(range(1, 9)) for i in mot)
    lines = (tmp_path / "t.mot").read_text().splitlines()
    assert len(lines) == 24 and lines[0].startswith("1,1,") and lines[0].endswith(",1.0000,-1,-1,-1")
    for i, b in enumerate(inits, 1):
        assert mot[i][1][0] == pytest.approx([float(v) for v in b.split(",")])
        rc, _, err = _cli(["track", img, "--threads", "1", "--init", b, "--output", tmp_path / f"one{i}.txt"], capsys)
        assert rc == 0, err
        one = read_boxes(tmp_path / f"one{i}.txt")
        assert np.abs(np.array([mot[i][f][0] for f in range(1, 9)]) - one).max() <= TOL + 1e-4  # 4 decimals
    scores = [r.split(",") for r in (tmp_path / "s.txt").read_text().splitlines()]
    assert len(scores) == 24 and [r[:2] for r in scores[:4]] == [["1", "1"], ["1", "2"], ["1", "3"], ["2", "1"]]
    assert all(float(mot[int(i)][int(f)][1]) == pytest.approx(float(c), abs=1e-4) for f, i, c, _ in scores)
    # the video: every frame, each box outline in its id's colour (H.264 blurs colours: nearest palette colour)
    with av.open(str(tmp_path / "t.mp4")) as c:
        video = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(video) == 8
    palette = np.array([id_color(i) for i in range(1, 4)], float)
    for n in (0, 4, 7):
        for i in (1, 2, 3):
            x, y, w, h = (int(round(v)) for v in mot[i][n + 1][0])
            edge = np.concatenate([video[n][y, x + 2:x + w - 1], video[n][y + h, x + 2:x + w - 1],
                                   video[n][y + 2:y + h - 1, x], video[n][y + 2:y + h - 1, x + w]]).astype(float)
            nearest = np.argmin(np.abs(edge[:, None, :] - palette[None]).sum(-1), axis=1)
            assert np.mean(nearest == i - 1) > 0.8, (n, i)
    # --targets: the same boxes from a file, the same result
    (tmp_path / "targets.txt").write_text("\n".join(inits) + "\n")
    rc, _, err = _cli(["track", img, "--threads", "1", "--targets", tmp_path / "targets.txt", "--output",
                       tmp_path / "t2.mot"], capsys)
    assert rc == 0, err
    assert (tmp_path / "t2.mot").read_text() == (tmp_path / "t.mot").read_text()


def test_cli_bad_targets_one_line_exit_2(tmp_path, capsys):
    from test_reliability_input import assert_user_error, write_frames

    frames = write_frames(tmp_path / "frames")  # 160x120
    out = tmp_path / "o.mot"
    for args, needle in [
            (["--init", "10,10,20,20", "--init", "500,10,20,20"], "target 2: init box 500,10,20,20 lies outside"),
            (["--init", "10,10,20,20", "--init", "30,30,20,20", "--init", "5,5,0,9"], "target 3: init box must have "
                                                                                       "positive width"),
            (["--init", "10,10,20,20", "--targets", tmp_path / "t.txt"], "--init or with --targets, not both"),
            (["--targets", tmp_path / "t.txt"], "target 2 (line 2 of the boxes) has 3 values"),
            (["--targets", tmp_path / "missing.txt"], "--targets file not found"),
            (["--targets", tmp_path], "is a folder")]:
        (tmp_path / "t.txt").write_text("10,10,20,20\n5,5,9\n")
        rc, _, err = _cli(["track", frames, "--output", out, *args], capsys)
        assert_user_error(rc, err, needle)
        assert not out.exists()


def test_engine_without_batches_runs_one_call_per_target(mot, nano):
    """An engine with only ``track`` (a custom or reference engine) still serves a MultiTracker, one call a target."""
    frames, gt = mot
    model, cfg = nano
    eng = make_engine(model, "cpu", "fast", cfg=cfg)

    class OneByOne:
        def __init__(self):
            self.calls = 0

        def template(self, crop):
            return eng.template(crop)

        def track(self, crop, state):
            self.calls += 1
            return eng.track(crop, state)

    plain = OneByOne()
    boxes = [gt["001"][0], gt["069"][0]]
    a = [[t.box for t in s.targets] for s in MultiTracker(plain, cfg.tracker).track(frames[:4], boxes)]
    b = [[t.box for t in s.targets] for s in MultiTracker(eng, cfg.tracker).track(frames[:4], boxes)]
    assert plain.calls == 2 * 3 and np.abs(np.array(a) - np.array(b)).max() <= TOL


def test_mot_reader(tmp_path):
    from siamcan.fileio import format_mot, read_mot

    p = tmp_path / "a.mot"
    p.write_text(format_mot([(1, 1, [1, 2, 3, 4], 1.0), (1, 2, [5, 6, 7, 8], 0.5), (2, 1, [1.5, 2, 3, 4], 0.9)]))
    assert read_mot(p) == {1: {1: ([1, 2, 3, 4], 1.0), 2: ([1.5, 2, 3, 4], 0.9)}, 2: {1: ([5, 6, 7, 8], 0.5)}}
    for text, needle in [("1,1,2,3,4,5\n", "at least 7 values"), ("1.5,1,2,3,4,5,1\n", "must be integers"),
                         ("1,1,2,3,4,5,1\n1,1,2,3,4,5,1\n", "second box in frame 1"), ("1,a,2\n", "cannot parse")]:
        p.write_text(text)
        with pytest.raises(SiamcanError, match=needle):
            read_mot(p)

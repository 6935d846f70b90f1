"""Re-detection and template memory of issue 25 (``siamcan.tracking.redetect``) with a stand-in network that finds
squares of the template's colour: the box is never frozen while the target is still there, a lost target is found
again within a few frames of its return anywhere in the frame, a look-alike that the remembered templates reject is
not taken, nothing extra runs while the target is not lost, and the lost flag can be replayed from the reported
confidences."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from siamcan.config import TrackerConfig
from siamcan.errors import SiamcanError
from siamcan.geometry import CropGeometry
from siamcan.tracking.redetect import lost_states, tiles
from siamcan.tracking.tracker import SiamCANTracker

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]

GEO = CropGeometry(stride=16, score_size=15)
SIDE = 40
BACK = 40
WHITE = (255, 255, 255)


class ColourEngine:
    """The template state is the colour at the centre of the template crop; ``track`` scores the grid point nearest
    to the pixels of that colour (each channel within ``TOL``; logit +4, elsewhere -3) with their bounding box.
    A narrow sliver of that colour (width < half its height: a partly seen target) scores -1 (still the peak, but a
    low confidence). Counts calls."""

    TOL = 40

    def __init__(self):
        self.calls = 0
        self.templates = 0
        self.grid = GEO.grid()

    def template(self, crop):
        self.templates += 1
        c = crop.shape[0] // 2
        return crop[c, c].astype(int)

    def track(self, crop, state):
        self.calls += 1
        s = GEO.score_size
        cls = np.zeros((2, s, s))
        cls[1] = -3.0
        match = (np.abs(crop.astype(int) - state) < self.TOL).all(axis=2)
        ys, xs = np.nonzero(match)
        px, py = np.meshgrid(self.grid, self.grid)
        if len(xs) < 4:
            return cls, np.full((4, s, s), 20.0)
        x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        if len(xs) < 0.5 * (x2 - x1) * (y2 - y1):  # only the blended rim of a square of another colour
            return cls, np.full((4, s, s), 20.0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        i, j = np.argmin(np.abs(self.grid - cy)), np.argmin(np.abs(self.grid - cx))
        cls[1, i, j] = 4.0 if (x2 - x1) >= 0.5 * (y2 - y1) else -1.0  # a narrow sliver: partly seen, low score
        loc = np.stack([px - x1, py - y1, x2 - px, y2 - py]).astype(float)
        return cls, loc


def frame(*squares) -> np.ndarray:
    """A 640x480 frame with squares ``((x, y), colour)``."""
    f = np.full((480, 640, 3), BACK, np.uint8)
    for (x, y), colour in squares:
        f[y:y + SIDE, x:x + SIDE] = colour
    return f


CONF = (-10.0, 20.0, 0.0, 0.0, 0.0, 0.0)  # confidence = sigmoid(20 peak - 10): ~1 on the square, ~0 elsewhere


def tracker(engine=None, **cfg):
    engine = engine or ColourEngine()
    base = dict(stride=16, score_size=15, window_influence=0.3, penalty_k=0.05, lr=0.5, confidence_weights=CONF,
                redetect=True, lost_threshold=0.5, lost_frames=3, found_threshold=0.9, redetect_tiles=6)
    base.update(cfg)
    return SiamCANTracker(engine, TrackerConfig(**base)), engine


def run(frames, engine=None, **cfg):
    tr, engine = tracker(engine, **cfg)
    tr.init(frames[0], [100, 100, SIDE, SIDE])
    out = [tr.update(f) + (tr.lost,) for f in frames[1:]]
    return out, engine, tr


def centre(box):
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


def test_found_within_a_few_frames_anywhere():
    far = (540, 400)
    frames = [frame(((100, 100), WHITE))] * 4 + [frame()] * 6 + [frame((far, WHITE))] * 8
    out, engine, _ = run(frames)
    lost = [x[2] for x in out]
    assert lost[:3] == [False] * 3 and all(lost[5:9])  # lost on the third empty frame, and while it stays empty
    back = lost.index(False, 9)  # the target reappears at frame 10 (out index 9)
    # the 640x480 frame is covered by a handful of tiles (all searched each frame), then one frame to confirm
    assert back <= 9 + 2
    assert np.linalg.norm(centre(out[-1][0]) - (far[0] + 20, far[1] + 20)) < 3
    assert not any(lost[back:])
    assert out[back][1] > 0.99  # found: the confidence is back


def test_tiles_cover_the_frame():
    centres = np.array(tiles(GEO, (480, 640), 200.0, (0, 0)))
    span = (GEO.score_size - 1) * GEO.stride * 200.0 / GEO.instance_size
    # every frame pixel is within half a grid span of some tile centre (per axis), nearest-first order
    px = np.stack(np.meshgrid(np.arange(0, 640, 7), np.arange(0, 480, 7)), -1).reshape(-1, 2)
    d = np.abs(px[:, None, :] - centres[None]).max(axis=2).min(axis=1)
    assert d.max() <= span / 2 + 1e-6
    assert np.all(np.diff(np.hypot(*centres.T)) >= -1e-9)


def test_box_never_frozen_while_the_target_is_still_there():
    """A target that is only partly seen (low confidence: lost) but moves: with re-detection the local tracker goes
    on following it instead of freezing the box where it was last seen confidently."""
    frames = [frame(((100, 100), WHITE))]
    for k in range(1, 16):
        f = frame()
        x = 100 + 8 * k
        f[100:100 + SIDE, x:x + SIDE // 3] = WHITE  # a third of the square: dim, confidence ~0
        frames.append(f)
    out, _, _ = run(frames)
    assert out[-1][2]  # lost (low confidence) ...
    assert centre(out[-1][0])[0] > 100 + 20 + 60  # ... but the box moved on with the target (it started at x=120)


def test_a_look_alike_rejected_by_template_memory():
    """The target changes colour over time; the remembered templates (of its later colour) reject a look-alike that
    the first template accepts, while re-detection without memory takes it."""
    first, later, fake = (200, 200, 200), (200, 200, 170), (200, 200, 230)  # 30 from the first, 60 from each other
    frames = [frame(((100, 100), first))] * 3 + [frame(((100, 100), later))] * 12 + [frame()] * 4 + \
        [frame(((500, 380), fake))] * 6
    plain, _, _ = run(frames)
    assert not plain[-1][2]  # without memory: the look-alike is taken ...
    assert np.linalg.norm(centre(plain[-1][0]) - (520, 400)) < 3
    mem, engine, tr = run(frames, memory_size=2, memory_threshold=0.95, memory_gap=4)
    assert len(tr.search.memory) == 2 and all(m[0] > 3 for m in tr.search.memory)  # templates of the later colour
    assert all(x[2] for x in mem[-6:])  # ... with memory it is not: still lost
    assert np.linalg.norm(centre(mem[-1][0]) - (520, 400)) > 100
    # the target itself comes back: the remembered templates agree
    back = frames + [frame(((300, 200), later))] * 4
    mem2, _, _ = run(back, memory_size=2, memory_threshold=0.95, memory_gap=4)
    assert not mem2[-1][2] and np.linalg.norm(centre(mem2[-1][0]) - (320, 220)) < 3


def test_no_extra_work_while_not_lost():
    frames = [frame(((100 + 3 * k, 100), WHITE)) for k in range(30)]
    for cfg in ({}, {"memory_size": 4, "memory_gap": 5}):
        out, engine, tr = run(frames, **cfg)
        assert not any(x[2] for x in out)
        assert engine.calls == len(frames) - 1  # one network run per frame, as without re-detection
        assert engine.templates == 1  # remembered crops get features only when a candidate must be verified
        assert tr.search.tiles == 0
    assert len(tr.search.memory) == 4


class BatchColourEngine(ColourEngine):
    """ColourEngine that also takes batches (``track_batch`` over ``stack_states``), counting the batched calls and
    the batch sizes prepared, as the ONNX engine builds them."""

    def __init__(self):
        super().__init__()
        self.batches, self.prepared, self.stacks = [], [], 0

    def stack_states(self, states):
        self.stacks += 1
        return np.stack(states)

    def prepare_batch(self, n):
        self.prepared.append(n)

    def track_batch(self, crops, state):
        self.batches.append(len(crops))
        outs = [ColourEngine.track(self, c, s) for c, s in zip(crops, state)]
        self.calls -= len(crops)  # counted as batches here, not as single calls
        return np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs])


def test_search_tiles_in_one_network_call():
    """Item 3 of issue 25: a lost frame's tiles (and the re-centred crop) go through the network in one batched call,
    against the first template's state stacked once; the same boxes, confidences and lost flags as one call per tile.
    Template memory verifies with its templates in one call too. Batch sizes are prepared at init."""
    far = (540, 400)
    first, later, fake = (200, 200, 200), (200, 200, 170), (200, 200, 230)
    scenes = [
        ([frame(((100, 100), WHITE))] * 4 + [frame()] * 6 + [frame((far, WHITE))] * 8, {}),
        ([frame(((100, 100), first))] * 3 + [frame(((100, 100), later))] * 12 + [frame()] * 4
         + [frame(((500, 380), fake))] * 6 + [frame(((300, 200), later))] * 4,
         dict(memory_size=2, memory_threshold=0.95, memory_gap=4)),
    ]
    for frames, cfg in scenes:
        one, _, _ = run(frames, **cfg)
        batched, engine, tr = run(frames, BatchColourEngine(), **cfg)
        assert engine.prepared == ([2, 6, 7] if cfg else [6, 7])  # with memory: its 2 templates, once it is full
        for a, b in zip(one, batched):
            assert np.allclose(a[0], b[0]) and a[1] == pytest.approx(b[1]) and a[2] == b[2]
        searched = engine.batches.count(6) + engine.batches.count(7)  # tiles, or tiles + the re-centred crop
        assert searched >= 3 and tr.search.tiles == sum(n for n in engine.batches if n >= 6)
        assert engine.calls == len(frames) - 1  # besides the batches: the local crop, once a frame
        assert set(engine.batches) <= set(engine.prepared)  # only the sizes set up at init
        # stacked once per batch size (6, 7) and once per set of remembered templates, not on every lost frame
        assert engine.stacks == 2 + bool(cfg)
        if cfg:
            assert 2 in engine.batches and tr.search.verified == 2 * engine.batches.count(2)


def test_batched_tiles_equal_one_call_each_with_the_real_network():
    """The shipped network on every CPU backend: the candidates of one batched call equal those of one call per crop
    (float rounding of the batched convolutions aside: well below 1e-3 px)."""
    from siamcan.tracking.redetect import score_crops
    from siamcan.zoo import load_model, make_engine

    model, cfg = load_model("siamcan-nano")
    rng = np.random.default_rng(0)
    f = cv2_blur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    f[200:260, 300:350] = (30, 160, 220)
    for backend in ("eager", "fast", "onnx"):
        engine = make_engine(model, "cpu", backend, cfg=cfg)
        tr = SiamCANTracker(engine, dataclasses.replace(cfg.tracker, redetect=True))
        tr.init(f, [300, 200, 50, 60])
        g = tr.geometry
        s_z = g.context_size(*tr.size)
        s_x = max(round(s_z * g.search_scale), 1)
        centres = tiles(g, f.shape, s_x, tr.center)[:7]
        batched = score_crops(tr, f, centres, s_x, g.exemplar_size / s_z)
        single = [score_crops(tr, f, [c], s_x, g.exemplar_size / s_z)[0] for c in centres]
        for a, b in zip(batched, single):
            assert abs(a.conf - b.conf) < 1e-4, backend
            assert max(abs(a.cx - b.cx), abs(a.cy - b.cy), abs(a.w - b.w), abs(a.h - b.h)) < 1e-3, backend
        assert max(c.conf for c in batched) > 0.9  # the target's own tile finds it


def cv2_blur(img):
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 3)


def test_lost_states_replay_the_tracker():
    frames = ([frame(((100, 100), WHITE))] * 4 + [frame()] * 5 + [frame(((400, 300), WHITE))] * 4 + [frame()] * 2
              + [frame(((400, 300), WHITE))] * 3)
    for redetect in (True, False):
        out, _, tr = run(frames, redetect=redetect)
        conf = np.array([np.nan] + [x[1] for x in out])
        assert list(lost_states(conf, tr.cfg)) == [False] + [x[2] for x in out]
        assert any(x[2] for x in out)


def test_found_threshold_is_a_hysteresis():
    with pytest.raises(SiamcanError, match="found_threshold"):
        TrackerConfig(lost_threshold=0.9, found_threshold=0.8)
    with pytest.raises(SiamcanError, match="memory_size"):
        TrackerConfig(memory_size=-1)


def test_plot_confidence_script(tmp_path, capsys):
    """benchmarks/plot_confidence.py on a tiny long-term sequence: absent frames shaded, lost / found replayed."""
    import importlib.util

    import cv2

    from siamcan.zoo import resolve_config

    root = tmp_path / "lt"
    (root / "seq" / "img").mkdir(parents=True)
    gt, rows, conf = [], [], [""]
    for i in range(12):
        cv2.imwrite(str(root / "seq" / "img" / f"{i + 1:04d}.jpg"), np.zeros((48, 64, 3), np.uint8))
        absent = 4 <= i < 8
        gt.append("nan,nan,nan,nan" if absent else "10,10,20,20")
        rows.append("10,10,20,20")
        if i:
            conf.append("0.2" if absent else "0.99")
    (root / "seq" / "groundtruth_rect.txt").write_text("\n".join(gt) + "\n")
    res = tmp_path / "results" / "lt" / "trk"
    res.mkdir(parents=True)
    (res / "seq.txt").write_text("\n".join(rows) + "\n")
    (res / "seq_confidence.value").write_text("\n".join(conf) + "\n")
    spec = importlib.util.spec_from_file_location("plot_confidence", REPO / "benchmarks" / "plot_confidence.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "c.png"
    assert mod.main([str(root), "seq", "--results", str(tmp_path / "results"), "--tracker", "trk", "--out",
                     str(out)]) == 0
    assert out.stat().st_size > 1000
    cfg = dataclasses.replace(resolve_config(None).tracker, lost_frames=3, lost_threshold=0.5, found_threshold=0.9)
    expected = lost_states(np.array([np.nan] + [float(c) for c in conf[1:]]), cfg)
    assert list(np.flatnonzero(expected)) == [6, 7]  # the 3rd and 4th low frames; found again at the first 0.99
    lost = int(lost_states(np.array([np.nan] + [float(c) for c in conf[1:]]), resolve_config(None).tracker).sum())
    assert f"{lost} lost, 1 lost events, 1 found" in capsys.readouterr().out

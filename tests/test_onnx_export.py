"""ONNX export (issue 6): template.onnx + track.onnx run in onnxruntime like PyTorch; OnnxEngine tracks like eager."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from siamcan.tracking.clips import load_frames  # noqa: E402
from siamcan.zoo import seeded_model  # noqa: E402
from siamcan.tracking.export import export_onnx  # noqa: E402
from siamcan.errors import SiamcanError  # noqa: E402
from siamcan.tracking.engine import TorchEngine  # noqa: E402
from siamcan.tracking.onnx_engine import OnnxEngine  # noqa: E402
from siamcan.tracking.tracker import SiamCANTracker  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")  # steadier on shared cores


@pytest.fixture(scope="module")
def lite_export(tmp_path_factory):
    model, cfg = seeded_model("siamcan-lite", seed=0, keep_backbone=True)
    out = tmp_path_factory.mktemp("onnx-lite")
    meta, _ = export_onnx(model, cfg, out)
    return model, cfg, out, meta


def test_export_files_static_opset(lite_export):
    import onnx

    _, _, out, meta = lite_export
    for name in ("template.onnx", "track.onnx"):
        m = onnx.load(str(out / name))
        onnx.checker.check_model(m)
        assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
        for v in list(m.graph.input) + list(m.graph.output):
            dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
            assert all(d > 0 for d in dims), (name, v.name, dims)  # static shapes
    t = onnx.load(str(out / "track.onnx"))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in t.graph.input}
    assert shapes["search"] == [1, 3, 255, 255]
    assert any(a.name == "group" and a.i > 1 for n in t.graph.node if n.op_type == "Conv" for a in n.attribute)
    assert json.loads((out / "siamcan.json").read_text())["model"] == "siamcan-lite"
    assert meta["check"]["max_abs_diff_cls"] <= 1e-4


def test_onnxruntime_equals_pytorch(lite_export):
    model, _, out, _ = lite_export
    eng = OnnxEngine(out)
    g = torch.Generator().manual_seed(5)
    z = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g) * 255, size=127, mode="bilinear")
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 40, 40, generator=g) * 255, size=255, mode="bilinear")
    fused = model.inference_module()  # the module the graphs are traced from
    with torch.inference_mode():
        state = fused.template(z)
        cls, loc = fused.track(x, state)[:2]
        cls0, loc0 = model.track(x, model.template(z))[:2]
    assert (cls0 - cls).abs().max() <= 1e-3 * max(1.0, float(cls0.abs().max()))  # == the model, float32 rounding
    assert (loc0 - loc).abs().max() <= 1e-3 * float(loc0.abs().max())
    st = eng.template_array(z.numpy())
    assert len(st) == len(state)
    for a, b in zip(st, state):
        assert a.shape == tuple(b.shape)
        assert np.abs(a - b.numpy()).max() <= 1e-4 * max(1.0, float(b.abs().max()))
    c, l_ = eng.track_array(x.numpy(), [s.numpy() for s in state])
    assert np.abs(c - cls.numpy()).max() <= 1e-4  # logits
    assert np.abs(l_ - loc.numpy()).max() <= 1e-4 * float(loc.abs().max())  # loc in px: relative


@pytest.mark.slow
def test_onnx_engine_tracks_like_eager(lite_export, dev_otb):
    """ONNX Runtime boxes follow eager PyTorch over 60 real frames of tracking with the shipped model and its tuned
    tracker values. ONNX Runtime's kernels round differently from oneDNN's (network outputs agree within 1e-4, see
    above) and the tracker feeds each box back into the next crop, so that float32 noise accumulates: measured
    1.003e-3 px on this clip. The bound is 2e-3 px (the 1e-3 px bar of the fast path is asserted in test_fast.py)."""
    seq = dev_otb / "Human3"
    if not seq.is_dir():
        pytest.skip("Human3 not in dev data")
    model, cfg, out, _ = lite_export
    frames, box, _ = load_frames(str(seq), 60)
    boxes = {}
    for name, eng in (("eager", TorchEngine(model, "cpu")), ("onnx", OnnxEngine(out))):
        tr = SiamCANTracker(eng, cfg.tracker)
        tr.init(frames[0], box)
        boxes[name] = np.array([box] + [tr.update(f)[0] for f in frames[1:]])
    assert np.ptp(boxes["eager"][:, 0]) > 1.0 or np.ptp(boxes["eager"][:, 1]) > 1.0
    assert np.abs(boxes["onnx"] - boxes["eager"]).max() <= 2e-3


def test_onnx_backend_errors(tmp_path):
    with pytest.raises(SiamcanError, match="not found"):
        OnnxEngine(tmp_path)
    from siamcan.zoo import make_engine

    with pytest.raises(SiamcanError, match="onnx-dir"):
        make_engine(None, "cpu", "onnx")


def test_cli_export_and_track(lite_export, tmp_path, capsys):
    import cv2

    from siamcan.cli.main import main

    _, _, out, _ = lite_export
    clip = tmp_path / "clip"
    clip.mkdir()
    from siamcan.tracking.clips import generated_clip

    frames, box = generated_clip(6)
    for i, f in enumerate(frames):
        cv2.imwrite(str(clip / f"{i:04d}.png"), f)
    res = tmp_path / "boxes.txt"
    rc = main(["track", str(clip), "--init", ",".join(str(v) for v in box), "--backend", "onnx",
               "--onnx-dir", str(out), "--output", str(res)])
    assert rc == 0
    assert len(res.read_text().splitlines()) == 6
    # --onnx-dir alone takes the onnx backend: the same boxes
    res2 = tmp_path / "boxes2.txt"
    assert main(["track", str(clip), "--init", ",".join(str(v) for v in box), "--onnx-dir", str(out),
                 "--output", str(res2)]) == 0
    assert res2.read_text() == res.read_text()
    # the files of siamcan-lite (25x25 maps) with siamcan-nano's config (15x15): one line naming both
    assert main(["track", str(clip), "--init", ",".join(str(v) for v in box), "--onnx-dir", str(out),
                 "--model", "siamcan-nano", "--output", str(tmp_path / "boxes3.txt")]) == 2
    assert "the ONNX files (exported from siamcan-lite) give 25x25 score maps but the tracker config has score_size " \
           "15" in capsys.readouterr().err

"""siamcan-nano (issue 17): our MobileNetV3 and BAN head against NanoTrack v3's released ONNX networks on real crops,
the added gates as an exact identity, NanoTrack's boxes from our tracker, fast path / ONNX export against eager."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from siamcan.config import ModelConfig
from siamcan.errors import SiamcanError
from siamcan.geometry import CropGeometry
from siamcan.models import build_model, load_model_weights
from siamcan.models.nano import SiamCANNano
from siamcan.tracking.engine import TorchEngine
from siamcan.tracking.tracker import SiamCANTracker
from siamcan.zoo import load_model, make_engine

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

pytestmark = pytest.mark.usefixtures("one_thread")


def _crops(dev_otb, n: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """Real template / search crops cut as the tracker cuts them, around the ground truth of a few dev frames."""
    from siamcan.evaluation.datasets import load_dataset

    seq = next(s for s in load_dataset(dev_otb, "otb") if s.name == "Human3")
    geo = CropGeometry(stride=16, score_size=15)
    from siamcan.tracking.geometry import crop_patch, xywh_to_cxcywh

    out = []
    for i in np.linspace(0, len(seq) - 1, n).astype(int):
        img = seq.frame(int(i))
        cx, cy, w, h = xywh_to_cxcywh(seq.gt[i])
        s = geo.context_size(w, h)
        mean = img.mean(axis=(0, 1))
        out.append((crop_patch(img, (cx, cy), geo.exemplar_size, round(s), mean),
                    crop_patch(img, (cx + 7, cy - 5), geo.instance_size, round(s * geo.search_scale), mean)))
    return out


def _blob(crop: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(crop.transpose(2, 0, 1)[None].astype(np.float32))


@pytest.fixture(scope="module")
def nano(nanotrack_v3_weights):
    model, cfg = load_model("siamcan-nano", nanotrack_v3_weights)
    return model, cfg


def test_backbone_equals_nanotrack_onnx_on_real_crops(nano, nanotrack_v3, dev_otb):
    from siamcan.tracking.nanotrack import NanoTrackEngine

    model, _ = nano
    ref = NanoTrackEngine("v3", nanotrack_v3)  # the released graph, spatial dims made symbolic (127 and 255)
    for z, x in _crops(dev_otb):
        for crop, side in ((z, 8), (x, 16)):
            with torch.no_grad():
                ours = model.backbone(_blob(crop))[-1].numpy()
            theirs = ref.features(_blob(crop).numpy())
            assert ours.shape == theirs.shape == (1, 96, side, side)
            assert np.abs(ours - theirs).max() <= 1e-4


def test_network_with_identity_gates_equals_nanotrack_head_onnx(nano, nanotrack_v3, dev_otb):
    from siamcan.tracking.nanotrack import NanoTrackEngine

    model, _ = nano
    ref = NanoTrackEngine("v3", nanotrack_v3)
    for z, x in _crops(dev_otb):
        with torch.no_grad():
            cls, loc = model(_blob(z), _blob(x))
        c_ref, l_ref = ref.head_maps(ref.features(_blob(z).numpy()), ref.features(_blob(x).numpy()))
        assert cls.shape == (1, 2, 15, 15) and loc.shape == (1, 4, 15, 15)
        assert np.abs(cls.numpy() - c_ref).max() <= 1e-4
        assert np.abs(loc.numpy() - l_ref).max() <= 1e-5 * max(1.0, float(np.abs(l_ref).max()))  # px, float32


def test_gates_start_as_an_exact_identity(nano):
    model, cfg = nano
    plain = build_model(ModelConfig(**{**cfg.model.__dict__, "cross_attention": False, "spatial_attention": False}),
                        CropGeometry.from_config(cfg.tracker)).eval()
    base = SiamCANNano.addition_prefixes
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith(base)})
    g = torch.Generator().manual_seed(0)
    z, x = torch.rand(2, 3, 127, 127, generator=g) * 255, torch.rand(2, 3, 255, 255, generator=g) * 255
    with torch.no_grad():
        a, b = model(z, x), plain(z, x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # 2 * sigmoid(0) == 1 exactly
    # and the gates learn: their convs get gradients from the first step
    m = copy.deepcopy(model).train()
    cls, loc = m(z, x)
    (cls.square().mean() + loc.mean()).backward()
    assert m.attention.conv.weight.grad.abs().sum() > 0
    assert m.ban_head.spatial_cls.conv.weight.grad.abs().sum() > 0


def test_loading_nanotrack_weights_by_key(nanotrack_v3_weights, tmp_path):
    from safetensors.torch import load_file, save_file

    sd = load_file(str(nanotrack_v3_weights))
    assert any(k.startswith("neck.") for k in sd)  # the released file has an (untrained) neck: skipped
    cfg = ModelConfig(backbone="mobilenetv3_nano", head="ban", channels=96, neck=False, template_crop=4, eca_kernel=3,
                      gate_scale=2.0)
    model = build_model(cfg, CropGeometry(stride=16, score_size=15))
    load_model_weights(model, nanotrack_v3_weights)
    own = model.state_dict()
    for k, v in sd.items():
        if k in own:
            assert torch.equal(own[k], v), k
    del sd["ban_head.cls_logits.0.weight"]
    broken = tmp_path / "broken.safetensors"
    save_file(sd, str(broken))
    with pytest.raises(SiamcanError, match="missing: ban_head.cls_logits.0.weight"):
        load_model_weights(model, broken)


def test_tracker_reproduces_nanotrack_v3_boxes(nano, nanotrack_v3, dev_otb):
    """Our tracker with the identity-gated model and NanoTrack's values == NanoTrack v3 (its ONNX networks) over a
    whole dev sequence."""
    from siamcan.tracking.nanotrack import nanotrack_tracker
    from siamcan.tracking.sources import FrameSource

    model, cfg = nano
    seq = dev_otb / "Human3"
    frames = list(FrameSource(seq / "img"))
    box = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().splitlines()[0].split(",")]
    from siamcan.tracking.nanotrack import VERSIONS

    ours = SiamCANTracker(TorchEngine(model, "cpu"), VERSIONS["v3"].tracker)  # NanoTrack's own tracker values
    ref = nanotrack_tracker("v3", nanotrack_v3)
    for t in (ours, ref):
        t.init(frames[0], box)
    diff = max(np.abs(np.array(ours.update(f)[0]) - ref.update(f)[0]).max() for f in frames[1:])
    assert diff <= 1e-3  # px, 199 frames: float32 rounding only (measured 4.8e-4)


def _perturbed(model):
    """The model with its gates away from the identity (as after training)."""
    m = copy.deepcopy(model)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for conv in (m.attention.conv, m.ban_head.spatial_cls.conv, m.ban_head.spatial_reg.conv):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.2)
    return m.eval()


@pytest.mark.slow
def test_shipped_model_fast_and_onnx_paths_follow_eager_over_a_whole_sequence(val_otb):
    """The default model with its shipped weights and values: the fast path (PyTorch inference module) within 1e-3 px
    of eager and ONNX Runtime (the CPU default) within 2e-3 px, every frame of a whole val sequence; the exported
    graphs' maps within 1e-4 of PyTorch's (also with the gates pushed away from the identity)."""
    from siamcan.tracking.export import export_onnx, onnx_engine_from_model, smooth_inputs
    from siamcan.tracking.fast import FastEngine
    from siamcan.tracking.onnx_engine import OnnxEngine
    from siamcan.tracking.sources import FrameSource
    from siamcan.zoo import DEFAULT_MODEL

    assert DEFAULT_MODEL == "siamcan-nano"
    model, cfg = load_model(None)
    seq = val_otb / "Biker"
    frames = list(FrameSource(seq / "img"))
    box = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().splitlines()[0].split(",")]
    boxes = {}
    for name, eng in (("eager", TorchEngine(model, "cpu")), ("fast", FastEngine(model, "cpu")),
                      ("onnx", make_engine(model, "cpu", "onnx", cfg=cfg))):
        tr = SiamCANTracker(eng, cfg.tracker)
        tr.init(frames[0], box)
        boxes[name] = np.array([box] + [tr.update(f)[0] for f in frames[1:]])
    assert isinstance(make_engine(model, "cpu", "auto", cfg=cfg), OnnxEngine)
    assert np.ptp(boxes["eager"][:, 0]) > 10  # the target moves
    assert np.abs(boxes["fast"] - boxes["eager"]).max() <= 1e-3
    assert np.abs(boxes["onnx"] - boxes["eager"]).max() <= 2e-3
    for m in (model, _perturbed(model)):
        meta, _ = export_onnx(m, cfg, check=True)
        assert meta["check"]["max_abs_diff_cls"] <= 1e-4 and meta["check"]["max_rel_diff_loc"] <= 1e-4
        z, x = smooth_inputs(CropGeometry.from_config(cfg.tracker), seed=4)
        eng = onnx_engine_from_model(m, cfg)
        fused = m.inference_module()
        with torch.no_grad():
            st = fused.template(z)
            cls, loc = fused.track(x, st)
            cls0, loc0 = m.track(x, m.template(z))
        c, l_ = eng.track_array(x.numpy(), [s.numpy() for s in st])
        assert np.abs(c - cls.numpy()).max() <= 1e-4
        assert np.abs(l_ - loc.numpy()).max() <= 1e-4 * float(loc.abs().max())
        assert (cls - cls0).abs().max() <= 1e-4 and (loc - loc0).abs().max() <= 1e-4 * float(loc0.abs().max())
    assert meta["track"]["shape"] == [1, 3, 255, 255] and meta["template"]["shape"] == [1, 3, 127, 127]


def test_score_size_from_the_config(nano):
    """The map size is the config's: stride 16 gives 15x15 here, and the tracker checks it against the model."""
    model, cfg = nano
    assert (cfg.tracker.stride, cfg.tracker.score_size) == (16, 15)
    geo = CropGeometry.from_config(cfg.tracker)
    assert geo.grid()[0] == 15 and geo.grid()[-1] == 239  # NanoTrack's points: 127 + 16 (i - 7)
    img = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
    wrong = SiamCANTracker(make_engine(model, "cpu", "eager"), cfg.tracker.__class__(stride=8, score_size=25))
    wrong.init(img, [100, 80, 40, 50])
    with pytest.raises(SiamcanError, match="15x15 score maps"):
        wrong.update(img)


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_reference_tracker_values_are_nanotracks_own(shared_data, version):
    """The values the reference trackers use are those of NanoTrack's released config files."""
    import yaml

    from siamcan.tracking.nanotrack import VERSIONS

    f = shared_data / "baselines" / "nanotrack" / "pretrained" / f"config{version}.yaml"
    if not f.is_file():
        pytest.skip(f"{f.name} not in shared data")
    track = yaml.safe_load(f.read_text())["TRACK"]
    t = VERSIONS[version].tracker
    assert (t.window_influence, t.penalty_k, t.lr) == (track["WINDOW_INFLUENCE"], track["PENALTY_K"], track["LR"])
    assert (t.exemplar_size, t.instance_size, t.context_amount) == (track["EXEMPLAR_SIZE"], track["INSTANCE_SIZE"],
                                                                    track["CONTEXT_AMOUNT"])
    size = track.get("OUTPUT_SIZE", (t.instance_size - t.exemplar_size) // 16 + 1 + track["BASE_SIZE"])
    assert t.score_size == size

"""FastEngine (issue 6): BN folding exactness, fused heads == SiamCAN.track, boxes == eager boxes on a real clip."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from siamcan.tracking.clips import load_frames
from siamcan.zoo import seeded_model
from siamcan.models.resnet import Bottleneck
from siamcan.tracking.engine import TorchEngine
from siamcan.models.fold import fold_batchnorm, fold_conv_bn
from siamcan.models.fused import FusedSiamCAN
from siamcan.tracking.fast import FastEngine, physical_cores
from siamcan.tracking.tracker import SiamCANTracker


pytestmark = pytest.mark.usefixtures("one_thread")  # steadier on shared cores


def _randomize_bn(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))


def test_fold_conv_bn_exact():
    torch.manual_seed(0)
    for conv in (nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.Conv2d(8, 16, 3, stride=2, dilation=2, bias=True),
                 nn.Conv2d(16, 16, 5, padding=2, groups=16, bias=False)):
        bn = nn.BatchNorm2d(16, eps=1e-3)
        _randomize_bn(bn)
        bn.eval()
        x = torch.randn(2, conv.in_channels, 19, 19)
        with torch.no_grad():
            ref = bn(conv(x))
            out = fold_conv_bn(conv, bn)(x)
        assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_blocks_and_no_mutation():
    torch.manual_seed(0)
    block = nn.Sequential(Bottleneck(64, 16, downsample=nn.Sequential(nn.Conv2d(64, 64, 1, bias=False),
                                                                     nn.BatchNorm2d(64))),
                          nn.Conv2d(64, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
    _randomize_bn(block)
    block.eval()
    before = copy.deepcopy(block.state_dict())
    folded = fold_batchnorm(block)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in block.modules()) == 5  # user's module untouched
    for k, v in block.state_dict().items():
        assert torch.equal(v, before[k])
    x = torch.randn(1, 64, 15, 15)
    with torch.no_grad():
        assert torch.allclose(folded(x), block(x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["siamcan-lite", "siamcan-r50"])
def test_fused_network_matches_model(name):
    """FusedSiamCAN (V folded into the search convs, one grouped correlation/attention/head) == SiamCAN.track."""
    model, _ = seeded_model(name, seed=1)
    fused = FusedSiamCAN(model, fold_backbone=True).eval()
    g = torch.Generator().manual_seed(0)
    z = nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=g) * 255, size=127, mode="bilinear")
    x = nn.functional.interpolate(torch.rand(1, 3, 32, 32, generator=g) * 255, size=255, mode="bilinear")
    with torch.inference_mode():
        cls0, loc0 = model.track(x, model.template(z))[:2]
        cls1, loc1 = fused.track(x, fused.template(z))
    assert cls1.shape == cls0.shape == (1, 2, 25, 25) and loc1.shape == loc0.shape == (1, 4, 25, 25)
    assert (cls1 - cls0).abs().max() <= 1e-3 * max(1.0, cls0.abs().max().item())
    assert (loc1 - loc0).abs().max() <= 1e-3 * loc0.abs().max().item()


def test_fast_engine_keeps_user_model():
    model, _ = seeded_model("siamcan-lite", seed=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    FastEngine(model, "cpu")
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert 1 <= torch.get_num_threads() <= max(1, physical_cores())


def _track(engine, cfg, frames, box):
    tr = SiamCANTracker(engine, cfg.tracker)
    tr.init(frames[0], box)
    return np.array([box] + [tr.update(f)[0] for f in frames[1:]])


@pytest.mark.slow
@pytest.mark.parametrize("name,keep_backbone", [("siamcan-lite", True), ("siamcan-r50", False)])
def test_fast_boxes_equal_eager_on_real_clip(dev_otb, name, keep_backbone):
    """Over a real dev sequence the fast path gives the eager path's boxes within 1e-3 px."""
    seq = dev_otb / "Human3"
    if not seq.is_dir():
        pytest.skip("Human3 not in dev data")
    n = 60 if name == "siamcan-lite" else 8  # r50 is ~0.3 s/frame per engine on 2 cores
    model, cfg = seeded_model(name, seed=0, keep_backbone=keep_backbone)
    frames, box, _ = load_frames(str(seq), n)
    fast_engine = FastEngine(model, "cpu")  # sets the thread count: build it first so both paths share it
    ref = _track(TorchEngine(model, "cpu"), cfg, frames, box)
    fast = _track(fast_engine, cfg, frames, box)
    assert np.ptp(ref[:, 0]) > 1.0 or np.ptp(ref[:, 1]) > 1.0  # the boxes do move
    assert np.abs(fast - ref).max() <= 1e-3

"""The SiamCAN network against SPEC §1: feature-map sizes, parameter counts per part, attention, fusion, ablations."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from siamcan.config import ModelConfig
from siamcan.errors import SiamcanError
from siamcan.models import build_model
from siamcan.models.heads import CrossChannelAttention, Neck, SpatialAttention, center_crop, xcorr_depthwise

pytestmark = pytest.mark.usefixtures("one_thread")  # steadier on shared cores

R50 = ModelConfig()  # the paper's model (siamcan-r50.yaml uses the defaults)
LITE = ModelConfig(backbone="efficientnet_lite0", channels=128)


def nparams(m: nn.Module | None) -> int:
    return 0 if m is None else sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def r50() -> nn.Module:
    torch.manual_seed(0)
    return build_model(R50).eval()


@pytest.fixture(scope="module")
def lite() -> nn.Module:
    torch.manual_seed(0)
    return build_model(LITE).eval()


# ----------------------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("which", ["r50", "lite"])
def test_backbone_feature_sizes(which, request):
    model = request.getfixturevalue(which)
    channels = (512, 1024, 2048) if which == "r50" else (40, 80, 112)
    with torch.inference_mode():
        fz = model.backbone(torch.rand(1, 3, 127, 127) * 255)
        fx = model.backbone(torch.rand(1, 3, 255, 255) * 255)
    assert [tuple(f.shape) for f in fz] == [(1, c, 15, 15) for c in channels]
    assert [tuple(f.shape) for f in fx] == [(1, c, 31, 31) for c in channels]
    with torch.inference_mode():
        nz = [center_crop(neck(f), model.cfg.template_crop) for neck, f in zip(model.neck, fz)]
        nx = [neck(f) for neck, f in zip(model.neck, fx)]
    ch = model.cfg.channels
    assert all(tuple(f.shape) == (1, ch, 7, 7) for f in nz)  # template center-cropped 15 -> 7
    assert all(tuple(f.shape) == (1, ch, 31, 31) for f in nx)  # search maps stay 31


@pytest.mark.parametrize("which", ["r50", "lite"])
def test_score_map_is_25x25(which, request):
    model = request.getfixturevalue(which)
    with torch.inference_mode():
        state = model.template(torch.rand(2, 3, 127, 127) * 255)
        cls, loc = model.track(torch.rand(2, 3, 255, 255) * 255, state)
        k = state[0]
    assert tuple(k.shape) == (2, model.cfg.channels, 5, 5)  # template stack 7 -> 5
    assert tuple(cls.shape) == (2, 2, 25, 25)
    assert tuple(loc.shape) == (2, 4, 25, 25)
    assert bool((loc > 0).all())  # exp(loc_scale * x): distances are positive
    # the spec's sanity sum: (255 - 127) / 8 + 1 + 8 = 25
    assert (255 - 127) // 8 + 1 + 8 == 25


def test_neck_crop_takes_rows_4_to_11():
    neck = Neck(3, 3).eval()
    with torch.no_grad():
        neck.downsample[0].weight.copy_(torch.eye(3).view(3, 3, 1, 1))
    x = torch.arange(3 * 15 * 15, dtype=torch.float32).view(1, 3, 15, 15)
    bn = neck.downsample[1]
    expected = (x - bn.running_mean.view(1, 3, 1, 1)) / torch.sqrt(bn.running_var.view(1, 3, 1, 1) + bn.eps)
    torch.testing.assert_close(center_crop(neck(x), 7), expected[:, :, 4:11, 4:11])
    assert neck(torch.zeros(1, 3, 31, 31)).shape[-1] == 31  # the neck itself never crops


# ------------------------------------------------------------------------------- parameter counts
def _bottleneck(cin: int, p: int) -> int:
    return cin * p + 2 * p + 9 * p * p + 2 * p + p * 4 * p + 2 * 4 * p


def _resnet_layer(cin: int, p: int, blocks: int, shortcut_k: int) -> int:
    return shortcut_k ** 2 * cin * 4 * p + 2 * 4 * p + _bottleneck(cin, p) + (blocks - 1) * _bottleneck(4 * p, p)


def _head(ch: int, out: int, spatial: bool = True, spatial_bn: bool = False) -> int:
    stacks = 2 * (9 * ch * ch + 2 * ch)  # template and search conv3x3 + BN
    att = (2 * 49 + (2 if spatial_bn else 0)) if spatial else 0
    return stacks + att + (ch * ch + 2 * ch) + (ch * out + out)


def test_resnet50_parameter_counts(r50):
    bb = r50.backbone
    stem = 3 * 64 * 49 + 2 * 64
    layers = {"layer1": _resnet_layer(64, 64, 3, 1), "layer2": _resnet_layer(256, 128, 4, 3),
              "layer3": _resnet_layer(512, 256, 6, 3), "layer4": _resnet_layer(1024, 512, 3, 3)}
    # pinned numbers (pysot's resnet_atrous: 3x3 shortcut convs in layer2-4)
    assert layers == {"layer1": 215_808, "layer2": 2_268_160, "layer3": 11_292_672, "layer4": 31_741_952}
    for name, n in layers.items():
        assert nparams(getattr(bb, name)) == n, name
    assert nparams(bb) == stem + sum(layers.values()) == 45_528_128
    # = torchvision's resnet50 without fc (23,508,032) + the 3x3-vs-1x1 shortcut difference in layer2-4
    assert 45_528_128 == 23_508_032 + 8 * (256 * 512 + 512 * 1024 + 1024 * 2048)


def test_siamcan_r50_parameter_counts(r50):
    assert nparams(r50.neck) == (512 + 1024 + 2048) * 256 + 3 * 2 * 256 == 919_040
    assert nparams(r50.attention) == 3 * 5 == 15
    assert nparams(r50.cls) == 3 * _head(256, 2) == 3_741_996
    assert nparams(r50.loc) == 3 * _head(256, 4) == 3_743_538
    fusion = [r50.cls_weight, r50.loc_weight, r50.loc_scale]
    assert [p.numel() for p in fusion] == [3, 3, 3]
    assert all(bool((p == 1).all()) for p in fusion)  # init ones
    assert nparams(r50) == 45_528_128 + 919_040 + 15 + 3_741_996 + 3_743_538 + 9 == 53_932_726


def _lite_backbone_count() -> int:
    # EfficientNet-Lite0 stages (repeats, kernel, stride, expand, in, out), cut after block 10
    stages = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
              (3, 5, 1, 6, 80, 112)]
    n = 3 * 32 * 9 + 2 * 32
    for repeats, k, _, e, cin, cout in stages:
        for r in range(repeats):
            c = cin if r == 0 else cout
            mid = c * e
            n += (c * mid + 2 * mid if e != 1 else 0) + mid * k * k + 2 * mid + mid * cout + 2 * cout
    return n


def test_siamcan_lite_parameter_counts(lite):
    assert _lite_backbone_count() == 700_768
    assert nparams(lite.backbone) == 700_768
    assert len(lite.backbone._blocks) == 11
    assert nparams(lite.neck) == (40 + 80 + 112) * 128 + 3 * 2 * 128 == 30_464
    assert nparams(lite.attention) == 15
    assert nparams(lite.cls) == 3 * _head(128, 2) == 937_260
    assert nparams(lite.loc) == 3 * _head(128, 4) == 938_034
    assert nparams(lite) == 700_768 + 30_464 + 15 + 937_260 + 938_034 + 9 == 2_606_550


# ----------------------------------------------------------------------------- attention modules
def test_eca_kernel_default_5_and_formula():
    assert ModelConfig().eca_kernel == 5
    att = CrossChannelAttention()
    assert tuple(att.conv.weight.shape) == (1, 1, 5) and att.conv.padding == (2,) and att.conv.bias is None
    torch.manual_seed(1)
    z = torch.randn(2, 16, 7, 7)
    w = att.conv.weight.detach().view(5)
    gap = z.mean(dim=(2, 3))  # (2, 16)
    padded = F.pad(gap, (2, 2))
    expected = torch.sigmoid(torch.stack([(padded[:, c:c + 5] * w).sum(1) for c in range(16)], dim=1))
    torch.testing.assert_close(att(z).view(2, 16), expected)
    assert tuple(att(z).shape) == (2, 16, 1, 1)
    with pytest.raises(SiamcanError, match="eca_kernel"):
        CrossChannelAttention(4)


@pytest.mark.parametrize("bn", [False, True])
def test_spatial_attention_formula(bn):
    torch.manual_seed(2)
    sa = SpatialAttention(7, bn).eval()
    assert (isinstance(sa.bn, nn.BatchNorm2d)) == bn
    x = torch.randn(1, 8, 25, 25)
    a = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True).values], 1)
    y = F.conv2d(a, sa.conv.weight, padding=3)
    if bn:
        y = (y - sa.bn.running_mean.view(1, 1, 1, 1)) / torch.sqrt(sa.bn.running_var.view(1, 1, 1, 1) + sa.bn.eps)
    torch.testing.assert_close(sa(x), x * torch.sigmoid(y))


def test_xcorr_depthwise_matches_per_channel_conv():
    torch.manual_seed(3)
    x, k = torch.randn(2, 4, 29, 29), torch.randn(2, 4, 5, 5)
    out = xcorr_depthwise(x, k)
    for b in range(2):
        for c in range(4):
            torch.testing.assert_close(out[b, c], F.conv2d(x[b:b + 1, c:c + 1], k[b:b + 1, c:c + 1])[0, 0])


def test_layer_fusion_is_softmax_weighted(lite):
    model = build_model(LITE).eval()
    model.load_state_dict(lite.state_dict())
    with torch.no_grad():
        model.cls_weight.copy_(torch.tensor([0.3, -1.0, 2.0]))
        model.loc_weight.copy_(torch.tensor([1.0, 0.0, -0.5]))
        model.loc_scale.copy_(torch.tensor([0.5, 1.0, 0.01]))
    torch.manual_seed(4)
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(1, 3, 255, 255) * 255
    with torch.inference_mode():
        cls, loc = model(z, x)
        state = model.template(z)
        xfs = [neck(f) * state[3 * i + 2] for i, (neck, f) in enumerate(zip(model.neck, model.backbone(x)))]
        cls_maps = [model.cls[i].track(state[3 * i], xfs[i]) for i in range(3)]
        loc_maps = [model.loc[i].track(state[3 * i + 1], xfs[i]) for i in range(3)]
    wc = torch.softmax(torch.tensor([0.3, -1.0, 2.0]), 0)
    wl = torch.softmax(torch.tensor([1.0, 0.0, -0.5]), 0)
    scale = [0.5, 1.0, 0.01]
    torch.testing.assert_close(cls, sum(wc[i] * cls_maps[i] for i in range(3)))
    torch.testing.assert_close(loc, sum(wl[i] * torch.exp(scale[i] * loc_maps[i]) for i in range(3)))


def test_cross_attention_weights_come_from_template_only(lite):
    z = torch.rand(1, 3, 127, 127) * 255
    with torch.inference_mode():
        state = lite.template(z)
        feats = [center_crop(neck(f), 7) for neck, f in zip(lite.neck, lite.backbone(z))]
    assert len(state) == 9  # per level: cls kernel, loc kernel, channel weights
    for i in range(3):
        v = state[3 * i + 2]
        assert tuple(v.shape) == (1, 128, 1, 1) and bool(((v > 0) & (v < 1)).all())
        torch.testing.assert_close(v, lite.attention[i](feats[i]))


# -------------------------------------------------------------------------------------- ablations
def _names(model: nn.Module) -> list[str]:
    return [n for n, _ in model.named_parameters()]


def test_ablation_switches():
    base = build_model(LITE)
    no_ca = build_model(dataclasses.replace(LITE, cross_attention=False))
    assert no_ca.attention is None
    assert not any(n.startswith("attention.") for n in _names(no_ca))
    assert nparams(base) - nparams(no_ca) == 15
    with torch.inference_mode():
        assert len(no_ca.eval().template(torch.zeros(1, 3, 127, 127))) == 6

    no_sa = build_model(dataclasses.replace(LITE, spatial_attention=False))
    assert not any(".attention." in n for n in _names(no_sa))
    assert nparams(base) - nparams(no_sa) == 6 * 98
    assert all(isinstance(h.attention, nn.Identity) for h in list(no_sa.cls) + list(no_sa.loc))

    sa_bn = build_model(dataclasses.replace(LITE, spatial_attention_bn=True))
    assert nparams(sa_bn) - nparams(base) == 6 * 2
    assert all(isinstance(h.attention.bn, nn.BatchNorm2d) for h in list(sa_bn.cls) + list(sa_bn.loc))
    assert all(isinstance(h.attention.bn, nn.Identity) for h in base.cls)

    cen = build_model(dataclasses.replace(LITE, centerness=True)).eval()
    assert nparams(cen) - nparams(base) == 3 * (128 + 1)
    with torch.inference_mode():
        out = cen(torch.rand(1, 3, 127, 127) * 255, torch.rand(1, 3, 255, 255) * 255)
    assert [tuple(o.shape) for o in out] == [(1, 2, 25, 25), (1, 4, 25, 25), (1, 1, 25, 25)]

    k3 = build_model(dataclasses.replace(LITE, eca_kernel=3))
    assert tuple(k3.attention[0].conv.weight.shape) == (1, 1, 3)


def test_bad_model_options_are_user_errors():
    with pytest.raises(SiamcanError, match="model.backbone"):
        ModelConfig(backbone="vgg16")
    with pytest.raises(SiamcanError, match="model.eca_kernel"):
        ModelConfig(eca_kernel=4)

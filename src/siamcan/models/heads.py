"""Neck, cross-channel attention, self-spatial attention and correlation heads (SPEC §1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SiamcanError


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` window of a (B, C, H, W) map (the map itself when it is not larger)."""
    h, w = x.shape[-2:]
    if h <= size and w <= size:
        return x
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, :, top:top + size, left:left + size]


class Neck(nn.Module):
    """1x1 conv (C -> channels, no bias) + BN. The template side is center-cropped by the model
    (:func:`center_crop`, ``model.template_crop``): the neck itself treats both sides alike."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x)


class CrossChannelAttention(nn.Module):
    """ECA-style channel weights from the template (paper eq. 1-2): GAP -> Conv1d(k) -> sigmoid (x ``scale``).

    ``scale`` 1 is the paper's gate. ``scale`` 2 with ``zero_init`` makes the gate exactly 1 at the start
    (2 * sigmoid(0)), so the module can be added to a trained network without changing its output (siamcan-nano); it
    then learns to weigh channels between 0 and 2."""

    def __init__(self, kernel: int = 5, scale: float = 1.0, zero_init: bool = False):
        super().__init__()
        if kernel < 1 or kernel % 2 != 1:
            raise SiamcanError(f"config key 'model.eca_kernel' must be a positive odd number, got {kernel}")
        self.conv = nn.Conv1d(1, 1, kernel, padding=(kernel - 1) // 2, bias=False)
        self.scale = float(scale)
        if zero_init:
            nn.init.zeros_(self.conv.weight)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Channel weights V of shape (B, C, 1, 1) from a template feature (B, C, H, W)."""
        y = z.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C)
        v = torch.sigmoid(self.conv(y))  # (B, 1, C)
        if self.scale != 1.0:
            v = v * self.scale
        return v.transpose(1, 2).unsqueeze(-1)


class SpatialAttention(nn.Module):
    """CBAM spatial attention (paper eq. 6-7): [mean_c; max_c] -> conv k x k -> sigmoid (x ``scale``) -> multiply.

    ``scale`` / ``zero_init`` as in :class:`CrossChannelAttention`: 2 and True give an exact identity at the start."""

    bn_pairs = (("conv", "bn"),)  # models/fold.py

    def __init__(self, kernel: int = 7, bn: bool = False, scale: float = 1.0, zero_init: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(1) if bn else nn.Identity()
        self.scale = float(scale)
        if zero_init:
            nn.init.zeros_(self.conv.weight)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, 1, H, W) weights for a map (B, C, H, W)."""
        a = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        g = torch.sigmoid(self.bn(self.conv(a)))
        return g * self.scale if self.scale != 1.0 else g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def xcorr_depthwise(x: torch.Tensor, kernel: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """Depth-wise cross-correlation of search (B, C, H, W) with template kernel (B, C, h, w)."""
    b, c = kernel.shape[:2]
    out = F.conv2d(x.reshape(1, b * c, x.shape[2], x.shape[3]),
                   kernel.reshape(b * c, 1, kernel.shape[2], kernel.shape[3]), padding=padding, groups=b * c)
    return out.reshape(b, c, out.shape[2], out.shape[3])


def _conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DepthwiseXCorrHead(nn.Module):
    """SiamBAN's DepthwiseXCorr with optional self-spatial attention on the correlation map."""

    def __init__(self, channels: int, out: int, spatial: bool, spatial_kernel: int = 7, spatial_bn: bool = False):
        super().__init__()
        self.conv_kernel = _conv_bn_relu(channels, channels, 3)
        self.conv_search = _conv_bn_relu(channels, channels, 3)
        self.attention = SpatialAttention(spatial_kernel, spatial_bn) if spatial else nn.Identity()
        self.head = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU(inplace=True), nn.Conv2d(channels, out, 1))

    def template(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_kernel(z)

    def track(self, kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        feature = xcorr_depthwise(self.conv_search(x), kernel)
        return self.head(self.attention(feature))

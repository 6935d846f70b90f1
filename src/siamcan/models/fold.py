"""BatchNorm folding for inference: ``bn(conv(x)) == conv'(x)`` with the BN's affine map folded into the conv.

Used by the models' inference modules (``SiamCAN.inference_module``, ``SiamCANNano.inference_module``): the
arithmetic is done in float64, so the folded conv differs from the pair only by float32 rounding.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


# ---------------------------------------------------------------------------------------------- BN folding
@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d (with bias) equal to ``bn(conv(x))`` in eval mode; arithmetic in float64."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64,
                                                                              device=w.device)
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    fused = fused.to(device=conv.weight.device, dtype=conv.weight.dtype)
    fused.weight.copy_(w * scale.view(-1, 1, 1, 1))
    fused.bias.copy_((b - bn.running_mean.double()) * scale + bn.bias.detach().double())
    return fused


def _foldable(conv, bn) -> bool:
    return (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
            and bn.running_mean is not None and conv.out_channels == bn.num_features)


@torch.no_grad()
def fold_batchnorm(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fold every eval-mode BatchNorm2d into the conv before it (BN replaced by Identity).

    Works on a deep copy unless ``inplace``. Handles ``Sequential(conv, bn, ...)`` and every module class that lists
    its ``(conv, bn)`` attribute pairs in a ``bn_pairs`` class attribute (ResNet Bottleneck/stem, EfficientNet
    MBConv/stem, spatial attention): a new block declares its own pairs, nothing here changes.
    """
    m = model if inplace else copy.deepcopy(model)
    m.eval()
    for mod in list(m.modules()):
        for cname, bname in getattr(type(mod), "bn_pairs", ()):
            conv, bn = getattr(mod, cname, None), getattr(mod, bname, None)
            if _foldable(conv, bn):
                setattr(mod, cname, fold_conv_bn(conv, bn))
                setattr(mod, bname, nn.Identity())
        if isinstance(mod, nn.Sequential):
            keys = list(mod._modules)
            for a, b in zip(keys, keys[1:]):
                conv, bn = mod._modules[a], mod._modules[b]
                if _foldable(conv, bn):
                    mod._modules[a] = fold_conv_bn(conv, bn)
                    mod._modules[b] = nn.Identity()
    return m

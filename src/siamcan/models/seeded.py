"""Seeded random weights with sane activations, for speed and equality checks of models without trained weights
(``siamcan bench --random-weights``, ``siamcan export --random-weights``, tests)."""
from __future__ import annotations

import torch
from torch import nn

from ..geometry import CropGeometry


@torch.no_grad()
def seed_weights(model: nn.Module, cfg, seed: int = 0, keep_backbone: bool = False) -> nn.Module:
    """Give ``model`` (built from the :class:`~siamcan.config.Config` ``cfg``) random but reproducible weights with
    sane activations, in place; returns it in eval mode. The named-model form is :func:`siamcan.zoo.seeded_model`.

    Conv and linear weights are drawn with ``seed`` (He init), BN affine parameters near (1, 0) and their statistics
    calibrated on seeded smooth-noise images; the model's own ``seed_outputs`` makes its output convs small with
    boxes of ~30 px. With ``keep_backbone`` the backbone keeps the weights it has.
    """
    g = torch.Generator().manual_seed(seed)
    parts = [m for name, m in model.named_children() if not (keep_backbone and name == "backbone")]
    for part in parts:
        for m in part.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    model.seed_outputs(g)
    # calibrate BN statistics on smooth random images (train mode, no grad)
    bns = [m for part in parts for m in part.modules() if isinstance(m, nn.BatchNorm2d)]
    model.train()
    if keep_backbone:
        model.backbone.eval()
    geo = CropGeometry.from_config(cfg.tracker)
    for _ in range(2):
        z = nn.functional.interpolate(torch.rand(2, 3, 16, 16, generator=g) * 255, size=geo.exemplar_size,
                                      mode="bilinear")
        x = nn.functional.interpolate(torch.rand(2, 3, 32, 32, generator=g) * 255, size=geo.instance_size,
                                      mode="bilinear")
        model(z, x)
    for m in bns:
        m.momentum = 0.1
    return model.eval()

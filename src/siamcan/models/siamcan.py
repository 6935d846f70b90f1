"""The SiamCAN network (paper §3, SPEC §1).

Two entry points:

* ``forward(z, x)``: template images (B,3,127,127) and search images (B,3,255,255) -> ``(cls, loc)``
  (+ ``cen`` when centerness is on), used for training.
* ``template(z)`` once per target, then ``track(x, state)`` per frame: everything that depends only on
  the template (its features, the cross-attention channel weights, the template-side conv stacks) is
  computed once and passed back as a flat tuple of tensors (export-friendly: no dicts, no None).

Outputs: ``cls`` (B,2,25,25) logits (channel 1 = foreground), ``loc`` (B,4,25,25) = (l,t,r,b) in 255-crop
pixels, ``cen`` (B,1,25,25) centerness logits. The model holds no device calls and no loss.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import SiamcanError
from .backbones import BACKBONES
from .heads import CrossChannelAttention, DepthwiseXCorrHead, Neck, center_crop

TemplateState = tuple[torch.Tensor, ...]
LOC_BIAS_INIT = math.log(32.0)


class SiamCAN(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.backbone not in BACKBONES:
            raise SiamcanError(f"unknown backbone '{cfg.backbone}' (choose from {', '.join(BACKBONES)})")
        self.cfg = cfg
        self.backbone = BACKBONES[cfg.backbone]()
        ch = cfg.channels
        n = len(self.backbone.out_channels)
        self.num_levels = n
        self.neck = nn.ModuleList(Neck(c, ch) for c in self.backbone.out_channels)
        self.attention = nn.ModuleList(CrossChannelAttention(cfg.eca_kernel) for _ in range(n)) \
            if cfg.cross_attention else None
        cls_out = 2 + (1 if cfg.centerness else 0)
        head = dict(spatial=cfg.spatial_attention, spatial_kernel=cfg.spatial_kernel,
                    spatial_bn=cfg.spatial_attention_bn)
        self.cls = nn.ModuleList(DepthwiseXCorrHead(ch, cls_out, **head) for _ in range(n))
        self.loc = nn.ModuleList(DepthwiseXCorrHead(ch, 4, **head) for _ in range(n))
        for h in self.loc:
            # start the (l, t, r, b) = exp(x) predictions at a typical target's half-size in the 255 crop (the
            # context rule makes a target ~64 px wide there) instead of exp(0) = 1 px: with 1-px boxes the IoU
            # losses have almost no gradient and the regression stalls for thousands of steps
            nn.init.constant_(h.head[-1].bias, LOC_BIAS_INIT)
        self.cls_weight = nn.Parameter(torch.ones(n))
        self.loc_weight = nn.Parameter(torch.ones(n))
        self.loc_scale = nn.Parameter(torch.ones(n))

    # ------------------------------------------------------------------ template side
    def template(self, z: torch.Tensor) -> TemplateState:
        """Template-only work: per level (cls kernel, loc kernel[, channel weights])."""
        feats = [neck(f) for neck, f in zip(self.neck, self.backbone(z))]
        if feats[0].shape[-1] < self.cfg.template_crop:
            side = feats[0].shape[-1]
            raise SiamcanError(f"the template crop gives {side}x{side} features, fewer than model.template_crop "
                               f"({self.cfg.template_crop}): tracker.exemplar_size is too small")
        feats = [center_crop(f, self.cfg.template_crop) for f in feats]
        state: list[torch.Tensor] = []
        for i, zf in enumerate(feats):
            state.append(self.cls[i].template(zf))
            state.append(self.loc[i].template(zf))
            if self.attention is not None:
                state.append(self.attention[i](zf))
        return tuple(state)

    # -------------------------------------------------------------------- search side
    def track(self, x: torch.Tensor, state: TemplateState) -> tuple[torch.Tensor, ...]:
        feats = [neck(f) for neck, f in zip(self.neck, self.backbone(x))]
        per = 3 if self.attention is not None else 2
        cls_maps, loc_maps = [], []
        for i, xf in enumerate(feats):
            k_cls, k_loc = state[per * i], state[per * i + 1]
            if self.attention is not None:
                xf = xf * state[per * i + 2]
            cls_maps.append(self.cls[i].track(k_cls, xf))
            loc_maps.append(torch.exp(self.loc_scale[i] * self.loc[i].track(k_loc, xf)))
        wc = F.softmax(self.cls_weight, 0)
        wl = F.softmax(self.loc_weight, 0)
        cls = sum(wc[i] * cls_maps[i] for i in range(self.num_levels))
        loc = sum(wl[i] * loc_maps[i] for i in range(self.num_levels))
        if self.cfg.centerness:
            return cls[:, :2], loc, cls[:, 2:]
        return cls, loc

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.track(x, self.template(z))

    @torch.no_grad()
    def seed_outputs(self, g: torch.Generator) -> None:
        """For seeded random weights (:mod:`.seeded`): small final convs, loc centred on exp(3.4) ~ 30 px."""
        for i in range(self.num_levels):
            for head, bias in ((self.cls[i], 0.0), (self.loc[i], 3.4)):
                last = head.head[-1]
                last.weight.mul_(0.1)
                last.bias.fill_(bias)
                last.bias.add_(torch.randn(last.bias.shape, generator=g) * 0.05)
        self.cls_weight.copy_(torch.randn(self.num_levels, generator=g) * 0.3)
        self.loc_weight.copy_(torch.randn(self.num_levels, generator=g) * 0.3)
        self.loc_scale.copy_(1 + 0.05 * torch.randn(self.num_levels, generator=g))

    def inference_module(self, fold_backbone: bool = False) -> nn.Module:
        """A copy for inference with the same ``template``/``track`` API and (within float32 rounding) the same
        outputs, less work per frame: :class:`~siamcan.models.fused.FusedSiamCAN`. The fast engine and the ONNX
        export are built from it."""
        from .fused import FusedSiamCAN

        return FusedSiamCAN(self, fold_backbone)

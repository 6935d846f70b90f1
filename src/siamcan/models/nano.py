"""siamcan-nano: NanoTrack v3's network plus SiamCAN's cross-channel and self-spatial attention.

NanoTrack v3 (Apache-2.0) is a light SiamBAN: MobileNetV3 backbone (stride 16, :mod:`.mobilenetv3`), a 1x1 neck,
and per branch (cls, reg) a pixel-wise correlation (every template position correlated with the search map, then a
squeeze-excite over those positions) next to a depth-wise correlation of the central template window, concatenated,
reduced by a 1x1 conv, then a tower of six depth-wise-separable blocks and a 1x1 output conv (reg: ``exp``).
Module and parameter names follow the released state dict (``backbone.features.*``, ``neck.*``, ``ban_head.*``),
so ``nanotrackv3.safetensors`` loads by key.

SiamCAN's additions (paper §3.2-3.3), both optional (``model.cross_attention``, ``model.spatial_attention``):

* cross-channel attention: channel weights from the template (GAP -> Conv1d(k) -> sigmoid) multiply the search
  features after the neck, before all four correlation branches;
* self-spatial attention: CBAM's spatial gate on each branch's concatenated correlation map, before the 1x1 reduction.

Both gates are ``gate_scale * sigmoid(...)`` with zero-initialised convs; with ``gate_scale: 2`` they are exactly 1 at
the start, so a model loaded from NanoTrack's weights gives NanoTrack's outputs until it is fine-tuned.

``template(z)`` returns the per-target state ``(pw_cls, pw_reg, dw_cls, dw_reg[, channel_weights])``;
``track(x, state)`` returns ``(cls, loc)``: (B, 2, S, S) logits and (B, 4, S, S) (l, t, r, b) in search-crop pixels.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import SiamcanError
from ..geometry import CropGeometry
from .backbones import BACKBONES
from .heads import CrossChannelAttention, Neck, SpatialAttention, center_crop, xcorr_depthwise

TOWER_BLOCKS = 6


def _conv_bn(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels))


class ChannelGate(nn.Module):
    """Squeeze-excite with 1x1 convs (NanoTrack's ``CA_layer``): GAP -> fc1 -> ReLU -> fc2 -> sigmoid -> multiply."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * w


class PixelwiseXCorr(nn.Module):
    """Every template position (``positions`` of them) correlated with every search position, then a channel gate
    over the positions and a 2x2 depth-wise + 1x1 conv. Output: (B, positions, H - 1, W - 1)."""

    def __init__(self, channels: int, positions: int):
        super().__init__()
        self.conv_kernel = _conv_bn(channels)
        self.conv_search = _conv_bn(channels)
        self.CA_layer = ChannelGate(positions)
        self.conv = nn.Sequential(nn.Conv2d(positions, positions, 2, groups=positions, bias=False),
                                  nn.BatchNorm2d(positions), nn.ReLU6(inplace=True),
                                  nn.Conv2d(positions, positions, 1), nn.BatchNorm2d(positions))

    def template(self, zf: torch.Tensor) -> torch.Tensor:
        """(B, positions, C): one row per template position."""
        return self.conv_kernel(zf).flatten(2).transpose(1, 2)

    def correlate(self, kernel: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """The gated, convolved correlation of a kernel with already ``conv_search``-ed search features."""
        b, _, h, w = search.shape
        corr = torch.bmm(kernel, search.flatten(2)).reshape(b, kernel.shape[1], h, w)
        return self.conv(self.CA_layer(corr))

    def track(self, kernel: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        return self.correlate(kernel, self.conv_search(xf))


class DepthwiseXCorr(nn.Module):
    """Depth-wise correlation of the central ``crop`` x ``crop`` template window with the search map (padding
    ``padding``)."""

    def __init__(self, channels: int, crop: int, padding: int):
        super().__init__()
        self.conv_kernel = _conv_bn(channels)
        self.conv_search = _conv_bn(channels)
        self.crop, self.padding = crop, padding

    def template(self, zf: torch.Tensor) -> torch.Tensor:
        return self.conv_kernel(center_crop(zf, self.crop))

    def track(self, kernel: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        return xcorr_depthwise(self.conv_search(xf), kernel, self.padding)


def _tower(channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(TOWER_BLOCKS):
        layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                   nn.BatchNorm2d(channels), nn.ReLU6(inplace=True),
                   nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)]
    return nn.Sequential(*layers)


class BANHead(nn.Module):
    """NanoTrack v3's ``ban_head``, plus SiamCAN's self-spatial attention on each branch's correlation map."""

    def __init__(self, channels: int, positions: int, crop: int, spatial: bool, spatial_kernel: int = 7,
                 spatial_bn: bool = False, gate_scale: float = 2.0):
        super().__init__()
        padding = (crop - 2) // 2  # the depth-wise map then has the pixel-wise map's size (H - 1)
        self.corr_pw_cls = PixelwiseXCorr(channels, positions)
        self.corr_pw_reg = PixelwiseXCorr(channels, positions)
        self.corr_dw_cls = DepthwiseXCorr(channels, crop, padding)
        self.corr_dw_reg = DepthwiseXCorr(channels, crop, padding)
        both = channels + positions
        self.spatial_cls = SpatialAttention(spatial_kernel, spatial_bn, gate_scale, zero_init=True) if spatial else None
        self.spatial_reg = SpatialAttention(spatial_kernel, spatial_bn, gate_scale, zero_init=True) if spatial else None
        self.down_cls = nn.Sequential(nn.Conv2d(both, channels, 1))
        self.down_reg = nn.Sequential(nn.Conv2d(both, channels, 1))
        self.cls_tower = _tower(channels)
        self.bbox_tower = _tower(channels)
        self.cls_logits = nn.Sequential(nn.Conv2d(channels, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(channels, 4, 1))

    def template(self, zf: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.corr_pw_cls.template(zf), self.corr_pw_reg.template(zf), self.corr_dw_cls.template(zf),
                self.corr_dw_reg.template(zf))

    def correlations(self, kernels: tuple[torch.Tensor, ...], xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both branches' (pixel-wise ++ depth-wise) correlation maps, spatial gates applied."""
        k_pw_cls, k_pw_reg, k_dw_cls, k_dw_reg = kernels
        c = torch.cat([self.corr_pw_cls.track(k_pw_cls, xf), self.corr_dw_cls.track(k_dw_cls, xf)], 1)
        r = torch.cat([self.corr_pw_reg.track(k_pw_reg, xf), self.corr_dw_reg.track(k_dw_reg, xf)], 1)
        if self.spatial_cls is not None:
            c, r = self.spatial_cls(c), self.spatial_reg(r)
        return c, r

    def outputs(self, c: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cls logits, exp'd l,t,r,b) from the two correlation maps."""
        cls = self.cls_logits(self.cls_tower(self.down_cls(c)))
        loc = torch.exp(self.bbox_pred(self.bbox_tower(self.down_reg(r))))
        return cls, loc

    def forward(self, kernels: tuple[torch.Tensor, ...], xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.outputs(*self.correlations(kernels, xf))


def feature_size(backbone: nn.Module, crop: int) -> int:
    """Side of the backbone's feature map for a ``crop``-pixel input: its strided convs are 'same'-padded
    (padding k // 2), so each halves the side rounding up, ``ceil(crop / stride)`` (127 -> 8, 255 -> 16)."""
    return -(-crop // backbone.stride)


class SiamCANNano(nn.Module):
    """NanoTrack v3 + SiamCAN attention; see the module docstring. One feature level, stride 16."""

    num_levels = 1

    def __init__(self, cfg: ModelConfig, geometry: CropGeometry | None = None):
        super().__init__()
        backbone_cls = BACKBONES[cfg.backbone]
        if len(backbone_cls.out_channels) != 1:  # the BAN head correlates one feature level
            one = ", ".join(k for k, v in BACKBONES.items() if len(v.out_channels) == 1)
            raise SiamcanError(f"model.head 'ban' needs a one-level backbone ({one}), got '{cfg.backbone}'")
        if cfg.centerness:
            raise SiamcanError("model.centerness is not available with model.head 'ban'")
        geometry = geometry or CropGeometry(stride=16, score_size=15)
        self.cfg = cfg
        self.backbone = backbone_cls()
        ch = cfg.channels
        zs = feature_size(self.backbone, geometry.exemplar_size)
        if cfg.template_crop > zs or (cfg.template_crop - 2) % 2:
            raise SiamcanError(f"model.template_crop must be even and at most the {zs}x{zs} template features, got "
                               f"{cfg.template_crop}")
        cin = self.backbone.out_channels[-1]
        if not cfg.neck and ch != cin:
            raise SiamcanError(f"model.neck: false needs model.channels = the backbone's {cin} channels, got {ch}")
        self.neck = Neck(cin, ch) if cfg.neck else nn.Identity()
        self.attention = CrossChannelAttention(cfg.eca_kernel, cfg.gate_scale, zero_init=True) \
            if cfg.cross_attention else None
        self.ban_head = BANHead(ch, zs * zs, cfg.template_crop, cfg.spatial_attention, cfg.spatial_kernel,
                                cfg.spatial_attention_bn, cfg.gate_scale)

    # parameters that NanoTrack's released weights do not have: SiamCAN's gates (they start as an identity);
    # tensors of that file this model does not use: the neck (untrained in the release: BN at its initial values)
    addition_prefixes = ("attention.", "ban_head.spatial_")

    @property
    def ignored_prefixes(self) -> tuple[str, ...]:
        return () if self.cfg.neck else ("neck.",)

    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        zf = self.neck(self.backbone(z)[-1])
        state = self.ban_head.template(zf)
        if self.attention is not None:
            state = state + (self.attention(zf),)
        return state

    def track(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        xf = self.neck(self.backbone(x)[-1])
        if self.attention is not None:
            xf = xf * state[4]
        return self.ban_head(state[:4], xf)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.track(x, self.template(z))

    @torch.no_grad()
    def seed_outputs(self, g: torch.Generator) -> None:
        """For seeded random weights (:mod:`.seeded`): small output convs, boxes near exp(3.4) ~ 30 px."""
        for conv, bias in ((self.ban_head.cls_logits[0], 0.0), (self.ban_head.bbox_pred[0], 3.4)):
            conv.weight.mul_(0.1)
            conv.bias.fill_(bias)
            conv.bias.add_(torch.randn(conv.bias.shape, generator=g) * 0.05)

    def inference_module(self, fold_backbone: bool = True) -> nn.Module:
        """A copy for inference, same ``template``/``track`` API and outputs (float32 rounding aside), less work per
        frame: :class:`FusedNano`. The fast engine and the ONNX export are built from it."""
        return FusedNano(self, fold_backbone)


class FusedNano(nn.Module):
    """siamcan-nano for inference, built from a :class:`SiamCANNano` (deep-copied, never modified).

    * BatchNorm folded into the convs before it (float64), the backbone's too unless ``fold_backbone`` is False.
    * Template-side work done once per target: the pixel-wise kernels of both branches with their search-side 1x1
      conv and the channel weights folded in (``K (W (x * V) + b) = (K W diag V) x + K b``: one MatMul per frame instead
      of two convs and two MatMuls), the depth-wise kernels of both branches stacked.
    * The two branches (cls, reg) run side by side as groups of the same ops (grouped convs, ``groups=2``), so a
      frame is ~45 ops instead of ~90.

    ``template(z)`` -> ``(pw_kernel (1, 2P, C), pw_bias (1, 2P, 1), dw_kernel (2C, 1, k, k), channel_weights)``.
    ``track(x, state)`` takes a batch of N search crops with the states of N templates concatenated along their first
    axis (:func:`siamcan.tracking.engine.stack_states`): one call for N targets.
    """

    def __init__(self, model: SiamCANNano, fold_backbone: bool = True):
        super().__init__()
        from .fold import fold_batchnorm

        m = copy.deepcopy(model).cpu().float().eval()
        fold_batchnorm(m if fold_backbone else nn.ModuleList([m.neck, m.ban_head]), inplace=True)
        h = m.ban_head
        self.backbone, self.neck, self.attention = m.backbone, m.neck, m.attention
        self.C = m.cfg.channels
        self.P = h.corr_pw_cls.CA_layer.fc1.in_channels
        self.gate_scale = float(m.cfg.gate_scale)
        with torch.no_grad():
            # template side, per branch: the pixel-wise kernel convs and (to fold) the search convs
            self.pw_kernel = nn.ModuleList([h.corr_pw_cls.conv_kernel, h.corr_pw_reg.conv_kernel])
            self.register_buffer("pw_search_w", torch.stack([h.corr_pw_cls.conv_search[0].weight.flatten(1),
                                                             h.corr_pw_reg.conv_search[0].weight.flatten(1)]))
            self.register_buffer("pw_search_b", torch.stack([h.corr_pw_cls.conv_search[0].bias,
                                                             h.corr_pw_reg.conv_search[0].bias]))
            self.dw = nn.ModuleList([h.corr_dw_cls, h.corr_dw_reg])
            self.padding = h.corr_dw_cls.padding
            self.dw_search = _stack_convs([h.corr_dw_cls.conv_search[0], h.corr_dw_reg.conv_search[0]])
            pw = (h.corr_pw_cls, h.corr_pw_reg)
            self.ca1 = _stack_convs([p.CA_layer.fc1 for p in pw], grouped=True)
            self.ca2 = _stack_convs([p.CA_layer.fc2 for p in pw], grouped=True)
            self.pw_dw = _stack_convs([p.conv[0] for p in pw], grouped=True)  # 2x2 depth-wise (+ ReLU6)
            self.pw_pw = _stack_convs([p.conv[3] for p in pw], grouped=True)  # 1x1
            self.spatial = None
            if h.spatial_cls is not None:
                self.spatial = _stack_convs([h.spatial_cls.conv, h.spatial_reg.conv], grouped=True)
            self.down = _stack_convs([h.down_cls[0], h.down_reg[0]], grouped=True)
            tower = []
            for i in range(0, len(h.cls_tower), 5):  # (dw, bn, relu6, pw, bn) per block, BN folded
                tower.append(_stack_convs([h.cls_tower[i], h.bbox_tower[i]], grouped=True))
                tower.append(_stack_convs([h.cls_tower[i + 3], h.bbox_tower[i + 3]], grouped=True))
            self.tower = nn.ModuleList(tower)
            self.cls_logits, self.bbox_pred = h.cls_logits[0], h.bbox_pred[0]

    @torch.no_grad()
    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        zf = self.neck(self.backbone(z)[-1])
        v = self.attention(zf).flatten(1) if self.attention is not None else torch.ones(1, self.C, dtype=zf.dtype,
                                                                                          device=zf.device)
        ks, bs = [], []
        for i, conv in enumerate(self.pw_kernel):
            k = conv(zf).flatten(2).transpose(1, 2)  # (1, P, C)
            ks.append(k @ (self.pw_search_w[i] * v))  # search conv and channel weights folded in
            bs.append(k @ self.pw_search_b[i][:, None])  # (1, P, 1)
        dw = torch.cat([d.template(zf) for d in self.dw], 1)  # (1, 2C, k, k)
        return (torch.cat(ks, 1).contiguous(), torch.cat(bs, 1).contiguous(),
                dw.reshape(-1, 1, dw.shape[2], dw.shape[3]).contiguous(), v.reshape(1, -1, 1, 1).contiguous())

    def track(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        pw_k, pw_b, dw_k, v = state
        xf = self.neck(self.backbone(x)[-1])
        N, C, H, W = xf.shape  # N targets: the states of N templates concatenated along their first axis
        P = self.P
        pw = (torch.matmul(pw_k, xf.reshape(N, C, H * W)) + pw_b).reshape(N, 2 * P, H, W)
        pw = pw * torch.sigmoid(self.ca2(F.relu(self.ca1(pw.mean(dim=(2, 3), keepdim=True)))))
        pw = self.pw_pw(F.relu6(self.pw_dw(pw)))  # (N, 2P, H-1, W-1): [cls | reg]
        ds = self.dw_search(xf * v)
        if N > 1:  # per-target kernels: the targets' channels side by side as groups of one conv
            ds = ds.reshape(1, N * 2 * C, H, W)
        dw = F.conv2d(ds, dw_k, padding=self.padding, groups=dw_k.shape[0])  # [cls | reg] per target
        h, w = dw.shape[-2:]
        dw = dw.reshape(N, 2 * C, h, w)
        y = torch.cat([pw[:, :P], dw[:, :C], pw[:, P:], dw[:, C:]], 1)  # per branch: pixel-wise ++ depth-wise
        if self.spatial is not None:
            g = y.reshape(2 * N, P + C, h, w)
            a = torch.cat([g.mean(dim=1, keepdim=True), g.amax(dim=1, keepdim=True)], 1).reshape(N, 4, h, w)
            gate = torch.sigmoid(self.spatial(a)) * self.gate_scale  # (N, 2, h, w)
            y = (g * gate.reshape(2 * N, 1, h, w)).reshape(N, 2 * (P + C), h, w)
        y = self.down(y)
        for i in range(0, len(self.tower), 2):
            y = self.tower[i + 1](F.relu6(self.tower[i](y)))
        return self.cls_logits(y[:, :C]), torch.exp(self.bbox_pred(y[:, C:]))


def _stack_convs(convs: list[nn.Conv2d], grouped: bool = False) -> nn.Conv2d:
    """One conv doing the work of several on the same input (outputs concatenated) or, ``grouped``, on the
    concatenation of their inputs (each conv its own group(s)). The convs must have the same shape."""
    c = convs[0]
    n = len(convs)
    groups = c.groups * n if grouped else c.groups
    if not grouped and c.groups != 1:
        raise ValueError("only ungrouped convs can share an input")
    out = nn.Conv2d(c.in_channels * (n if grouped else 1), c.out_channels * n, c.kernel_size, c.stride, c.padding,
                    c.dilation, groups, bias=True)
    with torch.no_grad():
        out.weight.copy_(torch.cat([k.weight for k in convs], 0))
        out.bias.copy_(torch.cat([k.bias if k.bias is not None else torch.zeros(k.out_channels) for k in convs], 0))
    return out

"""SiamCAN (r50 / lite) for inference: BN folded, template-side work cached, the per-level head work fused.

What :class:`FusedSiamCAN` does, on a deep copy of the model (the model passed in is never modified):

* **BatchNorm folded** into the preceding convolution (:func:`~siamcan.models.fold.fold_batchnorm`, float64) in the
  neck and the heads. The backbone's BNs are folded only with ``fold_backbone=True``: folding them is exact in real
  arithmetic, but the changed float32 rounding, amplified through 20-50 layers, moved siamcan-lite's boxes by up
  to ~2e-3 px per frame vs the eager path (and flipped one argmax near a tie in 199 frames), above the 1e-3 px
  equality bar, while the speed gain was within noise (the convs dominate; BN is one cheap pass per layer).
* **Template-side work cached** at ``template()`` time, beyond what ``SiamCAN.template`` already caches: the
  cross-attention channel weights ``V`` are folded into the per-target weights of the search-side 3x3 convs
  (``conv(x * V) == conv_{W * V}(x)``), the cls and loc search convs of a level are concatenated into one conv,
  and the depth-wise correlation kernels of all levels/branches are stacked.
* **Per-level work fused**: after the per-level search conv, all 2 x levels maps go through *one* grouped
  depth-wise correlation, one spatial attention, one grouped 1x1 conv, and one final 1x1 conv whose weights
  already hold the softmax level weights (cls) and ``loc_scale`` (loc): about 12 ops per frame instead of ~60.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .fold import fold_batchnorm
from .heads import center_crop


# ---------------------------------------------------------------------------------------------- fused net
class FusedSiamCAN(nn.Module):
    """SiamCAN with BN folded and the per-level head work fused; ``template``/``track`` as in SiamCAN.

    ``template(z)`` returns a tuple of per-target tensors:
    ``(w_search_0, b_search_0, ..., w_search_{L-1}, b_search_{L-1}, xcorr_kernels)``. ``track(x, state)`` takes a
    batch of N search crops with the states of N templates concatenated along their first axis: one call for N.
    """

    def __init__(self, model: nn.Module, fold_backbone: bool = True):
        super().__init__()
        m = copy.deepcopy(model).cpu().eval()  # built on the CPU whatever device the model is on, moved after
        fold_batchnorm(m if fold_backbone else nn.ModuleList([m.neck, m.cls, m.loc]), inplace=True)
        self.cfg = m.cfg
        self.backbone = m.backbone
        self.neck = m.neck
        self.attention = m.attention
        L = m.num_levels
        self.num_levels = L
        cls_out = m.cls[0].head[-1].out_channels
        self.cls_out = cls_out
        with torch.no_grad():
            # template-side convs of every head (kept as modules)
            self.cls_kernel = nn.ModuleList(h.conv_kernel for h in m.cls)
            self.loc_kernel = nn.ModuleList(h.conv_kernel for h in m.loc)
            # search-side 3x3 convs: cls and loc concatenated per level (V folded in per target)
            ws, bs = [], []
            for i in range(L):
                cs, ls = m.cls[i].conv_search[0], m.loc[i].conv_search[0]
                ws.append(torch.cat([cs.weight, ls.weight], 0))
                bs.append(torch.cat([cs.bias, ls.bias], 0))
            self.register_buffer("search_w", torch.stack(ws))  # (L, 2C, C, 3, 3)
            self.register_buffer("search_b", torch.stack(bs))  # (L, 2C)
            heads = [h for i in range(L) for h in (m.cls[i], m.loc[i])]  # map order: cls0, loc0, cls1, ...
            C = m.cfg.channels
            self.C = C
            self.spatial = not isinstance(heads[0].attention, nn.Identity)
            if self.spatial:
                sa = [h.attention.conv for h in heads]
                self.sa_kernel = sa[0].kernel_size
                self.sa_padding = sa[0].padding
                self.register_buffer("sa_w", torch.cat([c.weight for c in sa], 0))  # (2L, 2, k, k)
                self.register_buffer("sa_b", torch.cat([c.bias if c.bias is not None
                                                        else torch.zeros(1) for c in sa], 0))
            self.register_buffer("h1_w", torch.cat([h.head[0].weight for h in heads], 0))  # (2L*C, C, 1, 1)
            self.register_buffer("h1_b", torch.cat([h.head[0].bias for h in heads], 0))
            # final 1x1 conv over all 2L maps: rows [cls (cls_out) | loc level 0 (4) | loc level 1 | ...]
            wc = F.softmax(m.cls_weight.double(), 0)
            wf = torch.zeros(cls_out + 4 * L, 2 * L * C, dtype=torch.float64)
            bf = torch.zeros(cls_out + 4 * L, dtype=torch.float64)
            for i in range(L):
                hc, hl = m.cls[i].head[-1], m.loc[i].head[-1]
                wf[:cls_out, 2 * i * C:(2 * i + 1) * C] = wc[i] * hc.weight.double().flatten(1)
                bf[:cls_out] += wc[i] * hc.bias.double()
                s = m.loc_scale[i].double()
                r = cls_out + 4 * i
                wf[r:r + 4, (2 * i + 1) * C:(2 * i + 2) * C] = s * hl.weight.double().flatten(1)
                bf[r:r + 4] = s * hl.bias.double()
            dt = m.cls_weight.dtype
            self.register_buffer("final_w", wf.to(dt)[:, :, None, None])
            self.register_buffer("final_b", bf.to(dt))
            self.register_buffer("loc_w", F.softmax(m.loc_weight.detach(), 0).view(L, 1, 1, 1).clone())

    @torch.no_grad()
    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = [center_crop(neck(f), self.cfg.template_crop) for neck, f in zip(self.neck, self.backbone(z))]
        state: list[torch.Tensor] = []
        kernels = []
        for i, zf in enumerate(feats):
            w = self.search_w[i]
            if self.attention is not None:
                v = self.attention[i](zf)  # (1, C, 1, 1): scales the input channels of the search conv
                w = w * v.reshape(1, -1, 1, 1)
            state += [w.contiguous(), self.search_b[i]]
            kernels += [self.cls_kernel[i](zf), self.loc_kernel[i](zf)]
        k = torch.cat(kernels, 1)  # (1, 2L*C, 5, 5)
        state.append(k.reshape(k.shape[1], 1, k.shape[2], k.shape[3]).contiguous())
        return tuple(state)

    def track(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        L, C = self.num_levels, self.C
        N = x.shape[0]  # N targets: the states of N templates concatenated along their first axis
        feats = self.backbone(x)
        maps = []
        for i in range(L):
            xf = self.neck[i](feats[i])
            if N > 1:  # per-target search-conv weights: the targets as groups of one conv
                xf = xf.reshape(1, N * C, xf.shape[2], xf.shape[3])
            m = F.relu(F.conv2d(xf, state[2 * i], state[2 * i + 1], groups=N))
            maps.append(m.reshape(N, 2 * C, m.shape[2], m.shape[3]))
        y = torch.cat(maps, 1)  # (N, 2L*C, 29, 29)
        kern = state[-1]
        if N > 1:
            y = y.reshape(1, N * 2 * L * C, y.shape[2], y.shape[3])
        y = F.conv2d(y, kern, groups=kern.shape[0])  # depth-wise correlation, all maps (of all targets) at once
        h, w = y.shape[-2:]
        y = y.reshape(N, 2 * L * C, h, w)
        if self.spatial:
            v = y.reshape(N * 2 * L, C, h, w)
            a = torch.cat([v.mean(dim=1, keepdim=True), v.amax(dim=1, keepdim=True)], 1).reshape(N, 4 * L, h, w)
            a = torch.sigmoid(F.conv2d(a, self.sa_w, self.sa_b, padding=self.sa_padding, groups=2 * L))
            y = (v * a.reshape(N * 2 * L, 1, h, w)).reshape(N, 2 * L * C, h, w)
        y = F.relu(F.conv2d(y, self.h1_w, self.h1_b, groups=2 * L))
        out = F.conv2d(y, self.final_w, self.final_b)
        cls = out[:, :2]
        e = torch.exp(out[:, self.cls_out:]).reshape(N, L, 4, out.shape[2], out.shape[3])
        loc = (e * self.loc_w).sum(1)
        return cls, loc

"""The fast inference path (issue 6): same maps as :class:`~siamcan.tracking.engine.TorchEngine`, less work per frame.

What :class:`FastEngine` does, all on a deep copy of the user's model (the model passed in is never modified):

* **BatchNorm folded** into the preceding convolution (``fold_batchnorm``, computed in float64) in the neck and
  the heads. The backbone's BNs are folded only with ``fold_backbone=True``: folding them is exact in real
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
* **channels-last** memory format on CPU (oneDNN's fast path; the HxWx3 crop is channels-last already),
  ``torch.inference_mode``, and ``torch.set_num_threads`` = physical cores available to the process (never more,
  so the two threads of a 2-core machine are not oversubscribed).
* ``compile=True`` (opt-in): ``torch.compile`` with inductor freezing. Measured on a 2-core CPU the ResNet-50 backbone
  compiled in ~17 s and ran at 213 ms vs 207 ms uncompiled (the dilated convs are compute-bound: ~45 GMACs at
  ~400 GFLOP/s, the cores' peak), so it is off by default.
* CUDA: channels-last + cuDNN autotuning in true float32 (TF32 off for the engine's calls, as in the eager engine:
  :func:`~siamcan.tracking.engine.cuda_flags`), and the per-frame network replayed from a CUDA graph recorded at
  the first frame after each ``template()`` (``cuda_graph``; the same kernels, so the same numbers, without
  launching ~100 small kernels one by one). ``half=True`` and ``tf32=True`` are opt-in because they change the boxes.
"""
from __future__ import annotations

import copy
import logging
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.efficientnet_lite import EfficientNetLite0, MBConv
from ..models.heads import SpatialAttention
from ..models.resnet import Bottleneck, ResNet50
from ..models.siamcan import SiamCAN
from .engine import cuda_flags, pick_device

log = logging.getLogger(__name__)

# (conv, bn) attribute pairs whose BN directly follows the conv in the module's forward
_BN_PAIRS = {
    Bottleneck: [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")],
    ResNet50: [("conv1", "bn1")],
    MBConv: [("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")],
    EfficientNetLite0: [("_conv_stem", "_bn0")],
    SpatialAttention: [("conv", "bn")],
}


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

    Works on a deep copy unless ``inplace``. Handles ``Sequential(conv, bn, ...)`` and the known model blocks
    (ResNet Bottleneck/stem, EfficientNet MBConv/stem, spatial attention).
    """
    m = model if inplace else copy.deepcopy(model)
    m.eval()
    for mod in list(m.modules()):
        for cname, bname in _BN_PAIRS.get(type(mod), ()):
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


# ---------------------------------------------------------------------------------------------- threads
def physical_cores() -> int:
    """Physical cores usable by this process (affinity mask, hyper-threads counted once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
    cores = set()
    try:
        for c in cpus:
            base = f"/sys/devices/system/cpu/cpu{c}/topology/"
            with open(base + "core_id") as f1, open(base + "physical_package_id") as f2:
                cores.add((f2.read().strip(), f1.read().strip()))
    except OSError:
        return max(1, len(cpus))
    return max(1, len(cores))


def configure_threads() -> int:
    """Set torch's intra-op threads to the physical core count if it is higher (no oversubscription)."""
    n = physical_cores()
    if torch.get_num_threads() > n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


# ---------------------------------------------------------------------------------------------- fused net
class FusedSiamCAN(nn.Module):
    """SiamCAN with BN folded and the per-level head work fused; ``template``/``track`` as in SiamCAN.

    ``template(z)`` returns a tuple of per-target tensors:
    ``(w_search_0, b_search_0, ..., w_search_{L-1}, b_search_{L-1}, xcorr_kernels)``.
    """

    def __init__(self, model: SiamCAN, fold_backbone: bool = True):
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
        feats = [neck(f) for neck, f in zip(self.neck, self.backbone(z))]
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
        feats = self.backbone(x)
        maps = []
        for i in range(L):
            xf = self.neck[i](feats[i])
            maps.append(F.relu(F.conv2d(xf, state[2 * i], state[2 * i + 1])))
        y = torch.cat(maps, 1)  # (1, 2L*C, 29, 29)
        kern = state[-1]
        y = F.conv2d(y, kern, groups=kern.shape[0])  # depth-wise correlation, all maps at once
        if self.spatial:
            h, w = y.shape[-2:]
            v = y.reshape(2 * L, C, h, w)
            a = torch.cat([v.mean(dim=1, keepdim=True), v.amax(dim=1, keepdim=True)], 1).reshape(1, 4 * L, h, w)
            a = torch.sigmoid(F.conv2d(a, self.sa_w, self.sa_b, padding=self.sa_padding, groups=2 * L))
            y = (v * a.reshape(2 * L, 1, h, w)).reshape(1, 2 * L * C, h, w)
        y = F.relu(F.conv2d(y, self.h1_w, self.h1_b, groups=2 * L))
        out = F.conv2d(y, self.final_w, self.final_b)
        cls = out[:, :2]
        e = torch.exp(out[0, self.cls_out:]).reshape(L, 4, out.shape[2], out.shape[3])
        loc = (e * self.loc_w).sum(0, keepdim=True)
        return cls, loc


# ---------------------------------------------------------------------------------------------- engine
class FastEngine:
    """The fast inference path; same API and (within float rounding) the same maps as TorchEngine."""

    name = "fast"

    def __init__(self, model: SiamCAN, device: str | torch.device | None = None, compile: bool = False,
                 channels_last: bool | None = None, half: bool = False, fold_backbone: bool = False,
                 tf32: bool = False, cuda_graph: bool | None = None):
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        cuda = self.device.type == "cuda"
        if not cuda:
            self.threads = configure_threads()
        self.tf32 = tf32
        # CUDA graphs replay the per-frame kernels recorded once per template: same kernels, same numbers
        self.cuda_graph = (cuda and not compile) if cuda_graph is None else (cuda_graph and cuda)
        self._graph = None
        self.channels_last = True if channels_last is None else channels_last
        net = FusedSiamCAN(model, fold_backbone).to(self.device).eval()
        self.dtype = torch.float16 if (half and cuda) else torch.float32
        if self.dtype != torch.float32:
            net = net.to(self.dtype)
        if self.channels_last:  # conv weights of the backbone and neck (the head buffers stay as they are)
            net.backbone.to(memory_format=torch.channels_last)
            net.neck.to(memory_format=torch.channels_last)
        self.net = net
        self._track = net.track
        if compile:
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
            self._track = torch.compile(net.track, dynamic=False)

    def _input(self, crop: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device).permute(2, 0, 1).unsqueeze(0)
        t = t.to(self.dtype)  # HxWx3 -> 1x3xHxW, channels-last strides preserved
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last else t.contiguous()

    @torch.inference_mode()
    def template(self, crop: np.ndarray):
        with cuda_flags(self.device, benchmark=True, tf32=self.tf32):
            return self.net.template(self._input(crop))

    @torch.inference_mode()
    def track(self, crop: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        with cuda_flags(self.device, benchmark=True, tf32=self.tf32):
            x = self._input(crop)
            cls, loc = self._replay(x, state) if self.cuda_graph else self._track(x, state)
        return cls[0].float().cpu().numpy(), loc[0].float().cpu().numpy()

    def _replay(self, x: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor]:
        """``self._track(x, state)`` through a CUDA graph recorded for this ``state`` (re-recorded on a new one).

        A graph holds the addresses of its inputs: the state is kept referenced (so a new state can never reuse its
        memory and look the same) and each frame is copied into the recorded input tensor.
        """
        key = tuple(t.data_ptr() for t in state)
        if self._graph is None or self._graph[0] != key or self._graph[2].shape != x.shape:
            self._graph = None
            static_x = x.clone()
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):  # warm-up outside the capture: cuDNN autotuning, workspace allocation
                for _ in range(2):
                    self._track(static_x, state)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = self._track(static_x, state)
            self._graph = (key, graph, static_x, out, state)
        _, graph, static_x, out, _ = self._graph
        static_x.copy_(x)
        graph.replay()
        return out

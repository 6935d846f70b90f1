"""The fast inference path: the model's own inference module (``model.inference_module()``), run lean.

The network-side work is the model's: ``SiamCAN.inference_module`` (:mod:`siamcan.models.fused`: BN folded, template
work cached, per-level heads fused) and ``SiamCANNano.inference_module`` (:mod:`siamcan.models.nano`). A new model
gets a fast path by providing that method; nothing here knows a model's layers. What :class:`FastEngine` adds:

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

import logging
import os

import numpy as np
import torch
from torch import nn

from .engine import cuda_flags, pick_device, stack_states

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------------------------------------- engine
class FastEngine:
    """The fast inference path; same API and (within float rounding) the same maps as TorchEngine."""

    name = "fast"
    GRAPHS = 4  # CUDA graphs kept (see _replay)

    def __init__(self, model: nn.Module, device: str | torch.device | None = None, compile: bool = False,
                 channels_last: bool | None = None, half: bool = False, fold_backbone: bool = False,
                 tf32: bool = False, cuda_graph: bool | None = None):
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        cuda = self.device.type == "cuda"
        if not cuda:
            self.threads = configure_threads()
        self.tf32 = tf32
        # CUDA graphs replay the per-frame kernels recorded once per template: same kernels, same numbers
        self.cuda_graph = (cuda and not compile) if cuda_graph is None else (cuda_graph and cuda)
        self._graphs: dict = {}  # (state addresses, input shape) -> recorded graph (see _replay)
        self.channels_last = True if channels_last is None else channels_last
        if not hasattr(model, "inference_module"):
            from ..errors import SiamcanError

            raise SiamcanError(f"{type(model).__name__} has no inference_module(): no fast path for this model")
        net = model.inference_module(fold_backbone=fold_backbone).to(self.device).eval()
        self.dtype = torch.float16 if (half and cuda) else torch.float32
        if self.dtype != torch.float32:
            net = net.to(self.dtype)
        if self.channels_last:  # conv weights (per-target buffers stay as they are)
            for m in net.modules():
                if isinstance(m, nn.Conv2d):
                    m.to(memory_format=torch.channels_last)
        self.net = net
        self._track = net.track
        if compile:
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
            self._track = torch.compile(net.track, dynamic=False)

    def _input(self, crop: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device)
        t = t.permute(2, 0, 1).unsqueeze(0) if t.ndim == 3 else t.permute(0, 3, 1, 2)  # a crop or N crops
        t = t.to(self.dtype)  # (N)xHxWx3 -> Nx3xHxW, channels-last strides preserved
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

    stack_states = staticmethod(stack_states)

    @torch.inference_mode()
    def track_batch(self, crops: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        """N search crops (NxHxWx3 uint8) against N templates (``stack_states``) in one network call."""
        with cuda_flags(self.device, benchmark=True, tf32=self.tf32):
            x = self._input(crops)
            cls, loc = self._replay(x, state) if self.cuda_graph else self._track(x, state)
        return cls.float().cpu().numpy(), loc.float().cpu().numpy()

    def _replay(self, x: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor]:
        """``self._track(x, state)`` through a CUDA graph recorded for this ``state`` and batch size.

        A graph holds the addresses of its inputs: the state is kept referenced (so a new state can never reuse its
        memory and look the same) and each frame is copied into the recorded input tensor. The last
        ``GRAPHS`` graphs are kept, so that calls that alternate - a lost target's local crop (one crop) and its
        whole-frame search (a batch of tiles against the same template, stacked once) - replay their own graphs
        instead of recording them again each frame.
        """
        key = (tuple(t.data_ptr() for t in state), tuple(x.shape))
        if key not in self._graphs:
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
            while len(self._graphs) >= self.GRAPHS:  # the oldest first (dicts keep insertion order)
                del self._graphs[next(iter(self._graphs))]
            self._graphs[key] = (graph, static_x, out, state)
        graph, static_x, out, _ = self._graphs[key]
        static_x.copy_(x)
        graph.replay()
        return out

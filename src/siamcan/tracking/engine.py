"""Inference engines: run the network on crops, return numpy maps.

An engine has ``template(crop) -> state`` and ``track(crop, state) -> (cls, loc)`` with crops as HxWx3 uint8
BGR arrays and ``cls`` (2, 25, 25) logits, ``loc`` (4, 25, 25) as float numpy arrays. The tracker's
post-processing is engine-independent, so the eager path, the fast path and ONNX Runtime give comparable boxes.

Several targets in one call (:class:`~siamcan.tracking.multi.MultiTracker`): ``stack_states([state, ...])`` once
(the templates' states concatenated along their first axis, :func:`stack_states`), then per frame
``track_batch(crops, stacked) -> (cls (N, 2, S, S), loc (N, 4, S, S))`` with ``crops`` an NxHxWx3 uint8 array.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..models.siamcan import SiamCAN


def pick_device(device: str | None = None) -> torch.device:
    from ..errors import SiamcanError

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise SiamcanError(f"unknown --device '{device}' (cpu, cuda, cuda:N or auto)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SiamcanError(f"device '{device}' requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SiamcanError(f"device '{device}' requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev


def cuda_flags(device: torch.device, benchmark: bool = False, tf32: bool = False):
    """Context for one network call: on CUDA, cuDNN convolutions in true float32 unless ``tf32``.

    PyTorch lets cuDNN run float32 convolutions in TF32 (10-bit mantissa) by default, and the fast and eager
    engines then round differently. Measured on an H100 (``siamcan bench --device cuda``, 288 frames of UAV123
    group2_2, seeded-random siamcan-r50): fast vs eager boxes parted by 58 px with TF32, 5.5e-3 px without.
    The global flags are left as the user set them; this context applies to the engine's own calls only.
    """
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.backends.cudnn.flags(enabled=True, benchmark=benchmark, deterministic=False, allow_tf32=tf32)


def stack_states(states) -> tuple:
    """The per-target states of N templates as one batched state: each tensor concatenated along its first axis
    (what the models' ``track`` takes for a batch of N search crops; torch tensors or numpy arrays)."""
    states = list(states)
    if not states:
        raise ValueError("no states to stack")
    if len(states) == 1:
        return tuple(states[0])
    if isinstance(states[0][0], np.ndarray):
        return tuple(np.concatenate(parts, 0) for parts in zip(*states))
    return tuple(torch.cat(parts, 0) for parts in zip(*states))


def batch_tensor(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """NxHxWx3 uint8 -> Nx3xHxW float32 on device (values 0-255, BGR)."""
    t = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    return t.permute(0, 3, 1, 2).float()


def to_tensor(crop: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 -> 1x3xHxW float32 on device (values 0-255, BGR)."""
    t = torch.from_numpy(crop).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float()


class TorchEngine:
    """Plain eager PyTorch."""

    name = "eager"

    def __init__(self, model: SiamCAN, device: str | torch.device | None = None):
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def template(self, crop: np.ndarray):
        with cuda_flags(self.device):
            return self.model.template(to_tensor(crop, self.device))

    @torch.inference_mode()
    def track(self, crop: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        with cuda_flags(self.device):
            out = self.model.track(to_tensor(crop, self.device), state)
        cls, loc = out[0], out[1]
        return cls[0].float().cpu().numpy(), loc[0].float().cpu().numpy()

    stack_states = staticmethod(stack_states)

    @torch.inference_mode()
    def track_batch(self, crops: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        """N search crops (NxHxWx3 uint8) against N templates (``stack_states``) in one network call."""
        with cuda_flags(self.device):
            out = self.model.track(batch_tensor(crops, self.device), state)
        return out[0].float().cpu().numpy(), out[1].float().cpu().numpy()

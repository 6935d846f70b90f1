"""Inference engines: run the network on crops, return numpy maps.

An engine has ``template(crop) -> state`` and ``track(crop, state) -> (cls, loc)`` with crops as HxWx3 uint8
BGR arrays and ``cls`` (2, 25, 25) logits, ``loc`` (4, 25, 25) as float numpy arrays. The tracker's
post-processing is engine-independent, so the eager path, the fast path and ONNX Runtime give comparable boxes.
"""
from __future__ import annotations

import numpy as np
import torch

from ..models.siamcan import SiamCAN


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        from ..errors import SiamcanError
        raise SiamcanError(f"device '{device}' requested but CUDA is not available")
    return torch.device(device)


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
        return self.model.template(to_tensor(crop, self.device))

    @torch.inference_mode()
    def track(self, crop: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        out = self.model.track(to_tensor(crop, self.device), state)
        cls, loc = out[0], out[1]
        return cls[0].float().cpu().numpy(), loc[0].float().cpu().numpy()

"""Per-epoch learning rate (SPEC §3): geometric warm-up, then log-space decay.

Epochs ``0 .. warmup-1``: ``start * (base/start) ** (e / warmup)`` (pysot's step warm-up, x1.3797 per epoch for
0.001 -> 0.005 over 5). Epochs ``warmup .. epochs-1``: ``numpy.logspace(log10(base), log10(end), epochs-warmup)``.
"""
from __future__ import annotations

import math

from ..config import TrainConfig


def lr_at(epoch: int, epochs: int, base_lr: float, end_lr: float, warmup_epochs: int = 0,
          warmup_start_lr: float | None = None) -> float:
    """Base learning rate of ``epoch`` (0-based)."""
    if epoch < warmup_epochs:
        start = base_lr if warmup_start_lr is None else warmup_start_lr
        return start * (base_lr / start) ** (epoch / warmup_epochs)
    n = epochs - warmup_epochs
    if n <= 1:
        return base_lr
    k = min(epoch - warmup_epochs, n - 1)
    return 10 ** (math.log10(base_lr) + (math.log10(end_lr) - math.log10(base_lr)) * k / (n - 1))


def lr_for(cfg: TrainConfig, epoch: int) -> float:
    """Base learning rate of ``epoch`` for a training config."""
    return lr_at(epoch, cfg.epochs, cfg.base_lr, cfg.end_lr, cfg.warmup_epochs, cfg.warmup_start_lr)

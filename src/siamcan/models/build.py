"""A config's network: :func:`build_model` (``model.head`` picks :class:`~.siamcan.SiamCAN` or
:class:`~.nano.SiamCANNano`), and the checks that the tracker's crop sizes fit the network built."""
from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import SiamcanError
from ..geometry import CropGeometry
from .backbones import BACKBONES
from .nano import SiamCANNano
from .siamcan import SiamCAN


def build_model(cfg, geometry=None) -> nn.Module:
    """The network of a config: a whole :class:`~siamcan.config.Config` (crop geometry from its ``tracker`` section)
    or a :class:`ModelConfig` (+ optional ``geometry``, a :class:`~siamcan.geometry.CropGeometry`).
    ``model.head``: ``siamcan`` -> :class:`SiamCAN`, ``ban`` -> :class:`~siamcan.models.nano.SiamCANNano`."""
    if not isinstance(cfg, ModelConfig):  # a whole Config
        geometry = geometry or CropGeometry.from_config(cfg.tracker)
        cfg = cfg.model
    if cfg.head == "ban":
        return SiamCANNano(cfg, geometry)
    return SiamCAN(cfg)


def network_score_size(model: nn.Module, exemplar_size: int, instance_size: int) -> int:
    """The side of the score map ``model`` gives for these crop sizes (one run on zero crops, eval mode, no grad:
    the spatial sizes depend on the architecture only). A crop too small for the network is a one-line error."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            p = next(model.parameters())
            z = torch.zeros(1, 3, exemplar_size, exemplar_size, dtype=p.dtype, device=p.device)
            x = torch.zeros(1, 3, instance_size, instance_size, dtype=p.dtype, device=p.device)
            cls = model.track(x, model.template(z))[0]
    except (RuntimeError, ValueError, SiamcanError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise SiamcanError(f"the network cannot take {exemplar_size} / {instance_size} px crops (tracker.exemplar_size "
                           f"/ instance_size too small for it): {first}") from None
    finally:
        model.train(was)
    return int(cls.shape[-1])


def check_tracker_fits(cfg, model: nn.Module | None = None, trackers=None) -> None:
    """Every tracker section of ``cfg`` (``tracker``, ``benchmarks.*``; or the given ``{where: TrackerConfig}``) must
    fit the network: the backbone's output stride, and the score-map size it gives for the crop sizes (measured on
    ``model``, built from ``cfg`` when not given). One-line errors naming the key."""
    stride = getattr(BACKBONES[cfg.model.backbone], "stride", None)
    sizes: dict[tuple[int, int], int] = {}
    for where, t in (trackers or cfg.tracker_configs()).items():
        if stride is not None and t.stride != stride:
            raise SiamcanError(f"config key '{where}.stride' is {t.stride} but the {cfg.model.backbone} backbone has "
                               f"output stride {stride}; set stride: {stride}")
        key = (t.exemplar_size, t.instance_size)
        if key not in sizes:
            model = model if model is not None else build_model(cfg)
            sizes[key] = network_score_size(model, *key)
        want = sizes[key]
        if t.score_size != want:
            raise SiamcanError(f"config key '{where}.score_size' is {t.score_size} but the network gives {want}x{want} "
                               f"maps for exemplar_size {t.exemplar_size} / instance_size {t.instance_size}; set "
                               f"score_size: {want}")

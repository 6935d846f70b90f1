"""The training loop behind ``siamcan train`` (SPEC §3).

One call, :func:`train`, runs single-process or as one DDP rank under ``torchrun``. Per epoch: LR from the
schedule, backbone frozen (``requires_grad`` off, BN in eval) before ``unfreeze_epoch`` and ``train_layers``
trainable after it (optimizer and DDP wrapper rebuilt there), SGD with grad-norm clipping, steps with a
non-finite or too large loss skipped on every rank, validation loss on held-out pairs, an atomic checkpoint.

Data order: step ``s`` of an epoch uses pairs ``s*G .. (s+1)*G-1`` (G = world * accum_steps * batch_size), rank
``r`` micro-batch ``a`` the slice ``(r*accum + a)*batch``. A run with 2 ranks and a run with 1 rank and
``accum_steps: 2`` therefore see the same pairs and average the same per-micro-batch gradients.

Outputs in the output folder: ``config.yaml``, ``log.csv`` (epoch, step, loss, cls, reg, lr, pairs_per_s),
``val.csv``, ``loss.png``, ``checkpoints/epoch-NNN/``, ``model.safetensors`` (written after every epoch).
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Sampler

from ..config import Config, config_to_dict
from ..data.pairs import PairDataset, pair_loader
from ..errors import SiamcanError
from ..geometry import CropGeometry
from ..models import build_model, check_tracker_fits, load_backbone_weights, load_model_weights, save_model
from .checkpoint import checkpoint_epoch, list_checkpoints, load_checkpoint, save_checkpoint
from .distributed import DistInfo, all_reduce_mean, barrier, init_distributed, shutdown
from .losses import siamcan_loss
from .schedule import lr_for

log = logging.getLogger(__name__)

LOG_FIELDS = ["epoch", "step", "loss", "cls", "reg", "kd", "lr", "pairs_per_s"]
VAL_FIELDS = ["epoch", "step", "val_loss", "val_cls", "val_reg", "val_kd"]


# ----------------------------------------------------------------------------------------------- checks
def check_config(cfg: Config) -> None:
    """Reject inconsistent training configs with one-line errors. The config alone: no file or folder it names is
    opened here (a config is valid on a machine without the data; :func:`check_files` looks when training starts)."""
    t = cfg.train
    # allowed names and value ranges are checked when the config loads (config.py); here: what depends on
    # several keys
    if (t.label == "ellipse_centerness") != cfg.model.centerness:
        raise SiamcanError("train.label 'ellipse_centerness' and model.centerness: true go together")
    if not t.datasets:
        raise SiamcanError("train.datasets is empty: nothing to train on")
    if t.average_last > t.epochs:
        raise SiamcanError(f"train.average_last ({t.average_last}) is more than train.epochs ({t.epochs})")
    if t.average_last and 0 < t.keep_checkpoints < t.average_last:
        raise SiamcanError(f"train.keep_checkpoints ({t.keep_checkpoints}) must keep at least the "
                           f"train.average_last ({t.average_last}) checkpoints to average")
    if t.pseudo_prob > 0 and not t.teacher:
        raise SiamcanError("train.pseudo_prob needs train.teacher: the teacher finds the random regions' boxes")


def check_files(cfg: Config) -> None:
    """The files a training run needs before its first step, when it starts: the teacher's models."""
    t = cfg.train
    if t.teacher:
        from ..data.teacher import NanoTrackTeacher
        # fails here, with the reason, rather than inside a DataLoader worker
        NanoTrackTeacher(t.teacher, CropGeometry.from_config(cfg.tracker))


# -------------------------------------------------------------------------------------- freezing / optim
def _trainable_backbone(name: str, cfg: Config, epoch: int) -> bool:
    return epoch >= cfg.train.unfreeze_epoch and name.startswith(tuple(cfg.train.train_layers))


def set_trainable(model: nn.Module, cfg: Config, epoch: int) -> None:
    """requires_grad per the freezing rule of ``epoch``; heads always train."""
    for name, p in model.named_parameters():
        if name.startswith("backbone."):
            p.requires_grad_(_trainable_backbone(name[len("backbone."):], cfg, epoch))
        else:
            p.requires_grad_(True)


def set_train_mode(model: nn.Module, cfg: Config, epoch: int) -> None:
    """model.train(), with every frozen backbone module (BN included) back in eval mode."""
    model.train()
    for name, m in model.backbone.named_modules():  # per module, not recursive
        m.training = bool(name) and _trainable_backbone(name + ".", cfg, epoch)


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.SGD:
    """SGD over the trainable parameters: heads at the base LR, the backbone at ``backbone_lr_mult`` times it and,
    with ``gate_lr_mult`` != 1, the parameters a model adds to a pre-trained network (``addition_prefixes``:
    siamcan-nano's attention gates, which start as an identity) at ``gate_lr_mult`` times it."""
    t = cfg.train
    additions = tuple(getattr(model, "addition_prefixes", ())) if t.gate_lr_mult != 1.0 else ()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    gates = [p for n, p in named if additions and n.startswith(additions)]
    heads = [p for n, p in named if not n.startswith("backbone.") and not (additions and n.startswith(additions))]
    back = [p for n, p in named if n.startswith("backbone.")]
    groups: list[dict[str, Any]] = [{"params": heads, "lr_mult": 1.0, "name": "heads"}]
    if back:
        groups.append({"params": back, "lr_mult": t.backbone_lr_mult, "name": "backbone"})
    if gates:
        groups.append({"params": gates, "lr_mult": t.gate_lr_mult, "name": "gates"})
    return torch.optim.SGD(groups, lr=t.base_lr, momentum=t.momentum, weight_decay=t.weight_decay)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)


# ----------------------------------------------------------------------------------------------- data
class StepBatchSampler(Sampler[list[int]]):
    """Micro-batches of one rank, in step order (see the module docstring for the index layout)."""

    def __init__(self, steps: int, batch: int, accum: int, info: DistInfo, start_step: int = 0):
        self.steps, self.batch, self.accum, self.info, self.start = steps, batch, accum, info, start_step

    def __len__(self) -> int:
        return (self.steps - self.start) * self.accum

    def __iter__(self) -> Iterator[list[int]]:
        g = self.info.world * self.accum * self.batch
        for s in range(self.start, self.steps):
            for a in range(self.accum):
                first = s * g + (self.info.rank * self.accum + a) * self.batch
                yield list(range(first, first + self.batch))


def _loader(ds: PairDataset, sampler: Sampler, workers: int, device: torch.device) -> DataLoader:
    return pair_loader(ds, workers, batch_sampler=sampler, pin_memory=device.type == "cuda", persistent_workers=False)


# --------------------------------------------------------------------------------------------- logging
def _rewrite_csv(path: Path, fields: list[str], keep_before_epoch: int) -> None:
    """Create the CSV (header) or drop rows of epochs >= ``keep_before_epoch`` (resume)."""
    rows = []
    if path.is_file():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < keep_before_epoch]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields, restval=0, extrasaction="ignore")  # logs of older versions lack "kd"
        w.writeheader()
        w.writerows(rows)


def _append_csv(path: Path, fields: list[str], row: dict[str, Any]) -> None:
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fields).writerow(row)


def read_log(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) if v not in (None, "") else 0.0 for k, v in r.items()} for r in csv.DictReader(f)]


def plot_losses(output: Path) -> None:
    """``loss.png``: training loss per logged step and validation loss per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = read_log(output / "log.csv") if (output / "log.csv").is_file() else []
    val = read_log(output / "val.csv") if (output / "val.csv").is_file() else []
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8, label="train loss")
        ax.plot([r["step"] for r in train], [r["cls"] for r in train], lw=0.6, alpha=0.6, label="train cls")
        ax.plot([r["step"] for r in train], [r["reg"] for r in train], lw=0.6, alpha=0.6, label="train reg")
        if any(r.get("kd", 0.0) for r in train):
            ax.plot([r["step"] for r in train], [r["kd"] for r in train], lw=0.6, alpha=0.6, label="train distillation")
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from ..fileio import atomic_output

    with atomic_output(output / "loss.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


# -------------------------------------------------------------------------------------------- training
def _autocast(device: torch.device, cfg: Config):
    if device.type == "cuda" and cfg.train.amp:
        dtype = torch.bfloat16 if cfg.train.amp_dtype == "bf16" else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def _to(batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool = False) -> dict[str, torch.Tensor]:
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    if channels_last:
        for k in ("template", "search"):
            out[k] = out[k].contiguous(memory_format=torch.channels_last)
    return out


def _losses(out: tuple[torch.Tensor, ...], batch: dict[str, torch.Tensor], t) -> Any:
    return siamcan_loss(out, batch, t.reg_loss, t.cls_weight, t.reg_weight, t.cen_weight, t.kd_cls_weight,
                        t.kd_reg_weight)


@torch.no_grad()
def validate(model: nn.Module, ds: PairDataset, cfg: Config, device: torch.device, workers: int) -> dict[str, float]:
    """Mean loss over the fixed held-out pairs, model in eval mode."""
    was = model.training
    model.eval()
    sums = {"loss": 0.0, "cls": 0.0, "reg": 0.0, "kd": 0.0}
    n = 0
    dl = pair_loader(ds, workers, batch_size=cfg.train.batch_size, shuffle=False)
    for batch in dl:
        batch = _to(batch, device, cfg.train.channels_last)
        with _autocast(device, cfg):
            out = model(batch["template"], batch["search"])
        lo = _losses(out, batch, cfg.train)
        b = batch["label"].shape[0]
        sums["loss"] += lo.total.item() * b
        sums["cls"] += lo.cls.item() * b
        sums["reg"] += lo.reg.item() * b
        sums["kd"] += (lo.kd.item() if lo.kd is not None else 0.0) * b
        n += b
    model.train(was)
    return {k: v / max(n, 1) for k, v in sums.items()}


def _load_initial(model: nn.Module, cfg: Config) -> None:
    """Weights before the first step: a whole model (``train.init_weights``) or the ImageNet backbone."""
    if cfg.train.init_weights:
        path = Path(cfg.train.init_weights)
        if not path.is_file():
            raise SiamcanError(f"train.init_weights: no such file: {path}")
        load_model_weights(model, path)
        return
    if not cfg.train.pretrained_backbone:
        return
    if cfg.model.backbone == "resnet50" and not cfg.model.backbone_weights:
        raise SiamcanError("training siamcan-r50 needs ImageNet ResNet-50 weights: set model.backbone_weights to "
                           "a file (or train.pretrained_backbone: false to train from scratch)")
    load_backbone_weights(model.backbone, cfg.model.backbone_weights)


def train(cfg: Config, output: str | Path, resume: bool = False, device: str | None = None,
          workers: int | None = None, progress: bool = True, on_step: Callable[[int], None] | None = None,
          threads: int | None = None) -> dict[str, Any]:
    """Train ``cfg`` into ``output``; returns a summary dict (rank 0; other ranks get a partial one). ``threads``:
    torch threads per process on CPU (default: see ``_cpu_threads``). ``on_step(n)`` is called after the n-th
    optimizer step of this call (progress reporting; an exception raised there stops the run like Ctrl-C)."""
    check_config(cfg)
    check_files(cfg)
    t = cfg.train
    output = Path(output)
    info, dev = init_distributed(device)
    workers = t.num_workers if workers is None else workers
    if dev.type == "cpu":
        _cpu_threads(workers, int(os.environ.get("LOCAL_WORLD_SIZE", info.world)), threads)
    try:
        return _Run(cfg, output, resume, dev, info, workers, progress, on_step).run()
    finally:
        shutdown(info)


def _cpu_threads(workers: int, ranks_per_node: int, threads: int | None = None) -> None:
    """Give the math threads only the cores the data workers and the other ranks leave free, and at most the
    physical cores minus one (``siamcan.threads.default_threads``); ``threads`` overrides both.

    On a small CPU, OpenMP threads that share cores with DataLoader workers (or other ranks, or another job) wait
    on each other at every parallel region: measured on 2 cores, one worker made the backward pass 8x slower with 2
    math threads, and a busy loop on one core made a training step 17x slower (``bench_threads.py --train``).
    """
    from ..threads import default_threads

    if threads:
        torch.set_num_threads(threads)
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_rank = max(1, cores // max(1, min(ranks_per_node, cores)))
    torch.set_num_threads(max(1, min(per_rank - workers, default_threads())))


@dataclasses.dataclass
class _Window:
    """Loss sums of the steps since the last log row."""

    loss: float = 0.0
    cls: float = 0.0
    reg: float = 0.0
    kd: float = 0.0
    n: int = 0
    pairs: int = 0
    since: float = dataclasses.field(default_factory=time.perf_counter)

    def add(self, values: list[float]) -> None:
        self.loss, self.cls, self.reg, self.kd = (a + b for a, b in zip((self.loss, self.cls, self.reg, self.kd),
                                                                        values))
        self.n += 1


class _Run:
    """One training run, in the order it happens: set-up (:meth:`__init__`: model, resume state, data, run folder),
    the epochs (:meth:`epoch` -> :meth:`step` per optimizer step -> :meth:`end_epoch`), and :meth:`finish`."""

    def __init__(self, cfg: Config, output: Path, resume: bool, dev: torch.device, info: DistInfo, workers: int,
                 progress: bool, on_step: Callable[[int], None] | None):
        from .resume import check_logs, clean_stale_files

        self.cfg, self.t, self.output, self.dev, self.info = cfg, cfg.train, output, dev, info
        self.workers, self.progress, self.on_step = workers, progress, on_step
        t = self.t
        self.cfg_dict = config_to_dict(cfg)
        if info.main and output.is_dir():
            clean_stale_files(output)  # what a killed run left half-written
            if resume:
                check_logs(output)
        torch.manual_seed(t.seed)
        self.model = model = build_model(cfg)
        check_tracker_fits(cfg, model)  # the labels' grid is the tracker's: it must be the network's map
        self.state = self._load(resume)
        self.start_epoch = int(self.state.get("epoch", -1)) + 1
        self.global_step = int(self.state.get("global_step", 0))
        model.to(dev)
        if t.channels_last:
            model.to(memory_format=torch.channels_last)
        self._data()
        self._open_run_folder()
        self.use_scaler = dev.type == "cuda" and t.amp and t.amp_dtype == "fp16"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_scaler)
        try:  # types checked by load_checkpoint; a value of the right type can still not fit
            if self.state.get("scaler"):
                self.scaler.load_state_dict(self.state["scaler"])
            if "torch_rng" in self.state:
                torch.set_rng_state(self.state["torch_rng"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise SiamcanError(f"--resume: the last checkpoint's state.pt does not fit: {str(e).splitlines()[0]}") \
                from None
        self.opt: torch.optim.Optimizer | None = None
        self.ddp: nn.Module = model
        self.run_steps = self.skipped = self.pairs_done = 0
        self.t_start = time.perf_counter()
        self.last = {"loss": math.nan, "val_loss": math.nan}

    # ------------------------------------------------------------------------------------------ set-up
    def _load(self, resume: bool) -> dict[str, Any]:
        """The weights to start from and, when resuming, the last checkpoint's state."""
        ckpts = list_checkpoints(self.output) if resume else []
        if resume and not ckpts and self.info.main:
            log.warning("--resume: no checkpoint in %s, starting from scratch", self.output)
        if not ckpts:
            _load_initial(self.model, self.cfg)
            return {}
        return load_checkpoint(ckpts[-1], self.model)

    def _data(self) -> None:
        t, info = self.t, self.info
        geometry = CropGeometry.from_config(self.cfg.tracker)
        self.train_ds = PairDataset(t, t.datasets, t.pairs_per_epoch, t.seed, geometry=geometry)
        # validation measures the annotated objects only: no pseudo-labelled regions there
        self.val_ds = PairDataset(dataclasses.replace(t, pseudo_prob=0.0), t.val_datasets, t.val_pairs, t.seed + 1,
                                  fixed_epoch=0, geometry=geometry) if (t.val_datasets and t.val_pairs > 0) else None
        self.per_step = info.world * t.accum_steps * t.batch_size
        self.steps = t.pairs_per_epoch // self.per_step
        if self.steps < 1:
            raise SiamcanError(f"train.pairs_per_epoch ({t.pairs_per_epoch}) is smaller than one global batch "
                               f"({info.world} rank(s) x {t.accum_steps} accum x {t.batch_size} pairs)")

    def _open_run_folder(self) -> None:
        """``config.yaml``, the logs (rows of epochs to be redone dropped) and the opening line."""
        t, output = self.t, self.output
        if self.info.main:
            output.mkdir(parents=True, exist_ok=True)
            (output / "config.yaml").write_text(yaml.safe_dump(self.cfg_dict, sort_keys=False))
            _rewrite_csv(output / "log.csv", LOG_FIELDS, self.start_epoch)
            _rewrite_csv(output / "val.csv", VAL_FIELDS, self.start_epoch)
            print(f"siamcan train: {self.cfg.name} on {self.dev} x{self.info.world}, {self.train_ds.summary()}; "
                  f"{t.epochs} epochs x {self.steps} steps x {self.per_step} pairs"
                  + (f"; resuming after epoch {self.start_epoch - 1}" if self.start_epoch else ""))
        barrier(self.info)

    # ------------------------------------------------------------------------------------------ epochs
    def run(self) -> dict[str, Any]:
        for epoch in range(self.start_epoch, self.t.epochs):
            lr = self.epoch(epoch)
            self.end_epoch(epoch, lr)
        return self.finish()

    def _optimizer(self, epoch: int) -> None:
        """Freezing rule of the epoch; the optimizer (and DDP wrapper) are rebuilt at the start and the unfreeze."""
        t = self.t
        set_trainable(self.model, self.cfg, epoch)
        if self.opt is None or epoch == t.unfreeze_epoch:
            self.opt = build_optimizer(self.model, self.cfg)
            if epoch == self.start_epoch and self.state.get("optimizer") and not (epoch == t.unfreeze_epoch):
                try:
                    self.opt.load_state_dict(self.state["optimizer"])
                except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
                    raise SiamcanError("--resume: the optimizer state in the last checkpoint's state.pt does not "
                                       f"fit this model: {str(e).splitlines()[0]}") from None
            self.ddp = DDP(self.model, device_ids=[self.dev.index] if self.dev.type == "cuda" else None) \
                if self.info.enabled else self.model

    def epoch(self, epoch: int) -> float:
        """Every optimizer step of ``epoch``, with a log row every ``log_every`` steps; returns its LR."""
        from ..progress import progress_bar

        t, info = self.t, self.info
        self._optimizer(epoch)
        lr = lr_for(t, epoch)
        set_lr(self.opt, lr)
        set_train_mode(self.model, self.cfg, epoch)
        self.train_ds.set_epoch(epoch)
        loader = _loader(self.train_ds, StepBatchSampler(self.steps, t.batch_size, t.accum_steps, info),
                         self.workers, self.dev)
        bar = progress_bar(total=self.steps, desc=f"epoch {epoch + 1}/{t.epochs}", unit="step",
                           disable=not (self.progress and info.main), dynamic_ncols=True, leave=False)
        win = _Window()
        it = iter(loader)
        try:
            for step in range(self.steps):
                bad, values = self.step(it)
                self.global_step += 1
                self.run_steps += 1
                if bad:
                    self.skipped += 1
                    if info.main:
                        log.warning("epoch %d step %d: loss not finite or > %g, step skipped", epoch, step, t.max_loss)
                else:
                    win.add(values)
                win.pairs += self.per_step
                self.pairs_done += self.per_step
                if info.main and ((step + 1) % t.log_every == 0 or step + 1 == self.steps):
                    row = self._log_row(epoch, lr, win)
                    bar.set_postfix(loss=f"{row['loss']:.4f}", pairs_s=f"{row['pairs_per_s']:.1f}")
                    win = _Window()
                bar.update(1)
                if self.on_step is not None:
                    self.on_step(self.run_steps)
        finally:
            bar.close()
        del it, loader
        return lr

    def step(self, it) -> tuple[bool, list[float]]:
        """One optimizer step over ``accum_steps`` micro-batches; a step whose loss is not finite or above
        ``max_loss`` on any rank is skipped on every rank. Returns (skipped, [loss, cls, reg, kd])."""
        t, dev, info, opt = self.t, self.dev, self.info, self.opt
        opt.zero_grad(set_to_none=True)
        bad = False
        acc = torch.zeros(4, device=dev)
        for a in range(t.accum_steps):
            batch = _to(next(it), dev, t.channels_last)
            sync = a == t.accum_steps - 1 or not info.enabled
            ctx = self.ddp.no_sync() if (info.enabled and not sync) else contextlib.nullcontext()
            with ctx:
                with _autocast(dev, self.cfg):
                    out = self.ddp(batch["template"], batch["search"])
                lo = _losses(out, batch, t)
                kd = lo.kd.detach() if lo.kd is not None else torch.zeros((), device=dev)
                vals = torch.stack([lo.total.detach(), lo.cls.detach(), lo.reg.detach(), kd]).float()
                flag = torch.tensor([0.0 if bool(torch.isfinite(vals).all()) and vals[0].item() <= t.max_loss
                                     else 1.0], device=dev)
                if all_reduce_mean(flag, info).item() > 0:
                    bad = True
                if not bad:
                    self.scaler.scale(lo.total / t.accum_steps).backward()
            acc += torch.nan_to_num(vals, nan=0.0, posinf=0.0) / t.accum_steps
        acc = all_reduce_mean(acc, info)
        if bad:
            opt.zero_grad(set_to_none=True)
        else:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], t.grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
        return bad, acc.tolist()

    def _log_row(self, epoch: int, lr: float, win: _Window) -> dict[str, Any]:
        dt = time.perf_counter() - win.since
        n = max(win.n, 1)
        row = {"epoch": epoch, "step": self.global_step, "loss": win.loss / n, "cls": win.cls / n, "reg": win.reg / n,
               "kd": win.kd / n, "lr": lr, "pairs_per_s": win.pairs / dt if dt > 0 else 0.0}
        _append_csv(self.output / "log.csv", LOG_FIELDS, row)
        self.last["loss"] = row["loss"]
        return row

    def end_epoch(self, epoch: int, lr: float) -> None:
        """Validation loss, an atomic checkpoint, ``model.safetensors``, the loss curve and a line (rank 0)."""
        t, output = self.t, self.output
        if self.info.main:
            if self.val_ds is not None:
                v = validate(self.model, self.val_ds, self.cfg, self.dev, self.workers)
                _append_csv(output / "val.csv", VAL_FIELDS, {"epoch": epoch, "step": self.global_step,
                                                             "val_loss": v["loss"], "val_cls": v["cls"],
                                                             "val_reg": v["reg"], "val_kd": v["kd"]})
                self.last["val_loss"] = v["loss"]
            set_train_mode(self.model, self.cfg, epoch)
            ck_state = {"epoch": epoch, "global_step": self.global_step, "optimizer": self.opt.state_dict(),
                        "scaler": self.scaler.state_dict() if self.use_scaler else {},
                        "torch_rng": torch.get_rng_state(), "world": self.info.world}
            save_checkpoint(output, epoch, self.model, ck_state, self.cfg_dict, t.keep_checkpoints)
            save_model(self.model, output / "model.safetensors", config=self.cfg_dict, extra={"epoch": str(epoch)})
            plot_losses(output)
            msg = f"epoch {epoch + 1}/{t.epochs}: loss {self.last['loss']:.4f}"
            if self.val_ds is not None:
                msg += f", val loss {self.last['val_loss']:.4f}"
            print(msg + f", lr {lr:.3g}", flush=True)
        barrier(self.info)

    # ------------------------------------------------------------------------------------------ end
    def _average(self) -> str:
        """With ``average_last``, ``model.safetensors`` becomes the mean of the last epochs (complete runs only)."""
        t, output = self.t, self.output
        done_ckpts = list_checkpoints(output) if self.info.main and t.average_last > 0 else []
        if not (done_ckpts and checkpoint_epoch(done_ckpts[-1]) == t.epochs - 1):
            return ""
        from .averaging import average_run

        done = t.epochs - 1
        # ``model`` holds the last epoch's weights here (trained, or loaded by --resume)
        save_model(self.model, output / "model-last.safetensors", config=self.cfg_dict, extra={"epoch": str(done)})
        averaged = average_run(self.model, self.cfg, done_ckpts[-t.average_last:], self.dev, self.workers,
                               set_train_mode)
        save_model(self.model, output / "model.safetensors", config=self.cfg_dict,
                   extra={"epoch": str(done), "averaged": averaged})
        msg = f"siamcan train: model.safetensors = {averaged} (last epoch alone: model-last.safetensors)"
        if self.val_ds is not None:
            self.last["val_loss"] = validate(self.model, self.val_ds, self.cfg, self.dev, self.workers)["loss"]
            msg += f"; its val loss {self.last['val_loss']:.4f}"
        print(msg, flush=True)
        return averaged

    def finish(self) -> dict[str, Any]:
        t, output, last = self.t, self.output, self.last
        averaged = self._average()
        barrier(self.info)
        wall = time.perf_counter() - self.t_start
        summary = {"epochs": t.epochs, "started_at_epoch": self.start_epoch, "steps": self.run_steps,
                   "skipped_steps": self.skipped, "final_loss": last["loss"], "final_val_loss": last["val_loss"],
                   "pairs": self.pairs_done, "pairs_per_s": self.pairs_done / wall if wall > 0 else 0.0,
                   "seconds": wall, "weights": str(output / "model.safetensors"), "averaged": averaged,
                   "output": str(output)}
        if self.info.main:
            if self.start_epoch >= t.epochs:
                print(f"siamcan train: all {t.epochs} epochs already done in {output}")
            losses = ([f"final loss {last['loss']:.4f}"] if math.isfinite(last["loss"]) else []) + \
                ([f"val loss {last['val_loss']:.4f}"] if self.val_ds is not None and math.isfinite(last["val_loss"])
                 else [])
            print(f"siamcan train: done: {self.run_steps} steps ({self.skipped} skipped) in {wall:.0f} s, "
                  f"{summary['pairs_per_s']:.1f} pairs/s" + ("; " + ", ".join(losses) if losses else "")
                  + f"\n  weights: {output / 'model.safetensors'}\n  log: {output / 'log.csv'}, curve: "
                    f"{output / 'loss.png'}\n  track with: siamcan track VIDEO --init X,Y,W,H --model "
                    f"{output / 'config.yaml'} --weights {output / 'model.safetensors'}")
        return summary


def override(cfg: Config, **train_overrides: Any) -> Config:
    """A copy of ``cfg`` with some ``train`` keys replaced (None values ignored)."""
    over = {k: v for k, v in train_overrides.items() if v is not None}
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **over)) if over else cfg

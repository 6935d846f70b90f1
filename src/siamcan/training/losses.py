"""SiamCAN losses (SPEC §2): balanced cross entropy, IoU-family regression losses on (l, t, r, b), centerness BCE.

The loss lives outside the model: :func:`siamcan_loss` takes the network outputs and the batched targets.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import REG_LOSSES

MAX_DISTANCE = 1e4  # px; predicted (l, t, r, b) are clamped to it in the regression losses


def cls_loss(cls: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """0.5 * mean NLL over positive points + 0.5 * mean NLL over negative points (log-softmax over 2 channels).

    ``cls`` (B,2,S,S) logits (channel 1 = foreground), ``label`` (B,S,S) with 1 / 0 / -1 (ignore).
    A half with no points contributes 0 (kept in the graph).
    """
    logp = F.log_softmax(cls.float(), dim=1)
    fg, bg = logp[:, 1], logp[:, 0]
    pos, neg = label == 1, label == 0
    zero = cls.sum() * 0.0
    lp = -fg[pos].mean() if pos.any() else zero
    ln = -bg[neg].mean() if neg.any() else zero
    return 0.5 * lp + 0.5 * ln


def iou_terms(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """IoU, union, enclosing-box and centre terms from (N,4) l,t,r,b predictions and targets (SPEC §2)."""
    pl, pt, pr, pb = pred.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    pred_area = (pl + pr) * (pt + pb)
    target_area = (tl + tr) * (tt + tb)
    inter_w = torch.min(pl, tl) + torch.min(pr, tr)
    inter_h = torch.min(pt, tt) + torch.min(pb, tb)
    inter = inter_w * inter_h
    union = pred_area + target_area - inter
    iou = (inter + 1.0) / (union + 1.0)
    g_w = torch.max(pl, tl) + torch.max(pr, tr)
    g_h = torch.max(pt, tt) + torch.max(pb, tb)
    rho2 = (((pr - pl) - (tr - tl)) / 2) ** 2 + (((pb - pt) - (tb - tt)) / 2) ** 2
    return dict(iou=iou, union=union, enclose=g_w * g_h, c2=g_w ** 2 + g_h ** 2, rho2=rho2)


def reg_loss_per_point(pred: torch.Tensor, target: torch.Tensor, kind: str = "diou") -> torch.Tensor:
    """Per-point regression loss, (N,4) -> (N,).

    ``iou``: 1 - IoU (SiamBAN's ``linear_iou``); ``log_iou``: -log IoU; ``giou``: 1 - (IoU - (C - U)/C);
    ``diou``: 1 - IoU + rho^2 / c^2 (c^2 = squared diagonal of the enclosing box).
    """
    # a far-off point can predict exp(large) distances: in float32 the areas of 1e20-px boxes overflow to inf and the
    # loss to NaN (seen with distillation, whose reg term covers every point of the teacher's box). No box is 10^4
    # px away in a 255-px crop, so clamping there changes no real prediction.
    t = iou_terms(pred.float().clamp(max=MAX_DISTANCE), target.float())
    if kind == "iou":
        return 1 - t["iou"]
    if kind == "log_iou":
        return -torch.log(t["iou"])
    if kind == "giou":
        enclose = t["enclose"] + 1e-7
        return 1 - (t["iou"] - (enclose - t["union"]) / enclose)
    if kind == "diou":
        return 1 - t["iou"] + t["rho2"] / (t["c2"] + 1e-7)
    raise ValueError(f"unknown regression loss '{kind}' (choose from {', '.join(REG_LOSSES)})")


def reg_loss(loc: torch.Tensor, loc_target: torch.Tensor, label: torch.Tensor, kind: str = "diou") -> torch.Tensor:
    """Mean regression loss over the positive points of the batch; ``loc`` (B,4,S,S), ``label`` (B,S,S)."""
    pos = label == 1
    if not pos.any():
        return loc.sum() * 0.0
    p = loc.float().permute(0, 2, 3, 1)[pos]
    t = loc_target.float().permute(0, 2, 3, 1)[pos]
    return reg_loss_per_point(p, t, kind).mean()


def centerness_loss(cen: torch.Tensor, cen_target: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Binary cross entropy (with logits) of the centerness map over positive points; ``cen`` (B,1,S,S)."""
    pos = label == 1
    if not pos.any():
        return cen.sum() * 0.0
    return F.binary_cross_entropy_with_logits(cen.float()[:, 0][pos], cen_target.float()[pos])


def distill_loss(cls: torch.Tensor, loc: torch.Tensor, batch: dict[str, torch.Tensor], kind: str = "diou"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(cls, reg) distillation losses against a teacher's maps (``t_prob``, ``t_loc``, ``t_mask``; data/teacher.py).

    cls: KL(teacher || student) of the 2-class distributions at every point, averaged with the teacher's foreground
    probability as weight and, separately, with its background probability (half each, like :func:`cls_loss`:
    otherwise the ~600 background points of a 25x25 map drown the few target points).
    reg: the IoU-family loss between the student's and the teacher's (l, t, r, b), weighted by the teacher's
    foreground probability, over the points inside the teacher's box.
    """
    logq = F.log_softmax(cls.float(), dim=1)
    p = batch["t_prob"].float().clamp(1e-6, 1 - 1e-6)
    kl = p * (torch.log(p) - logq[:, 1]) + (1 - p) * (torch.log1p(-p) - logq[:, 0])
    kd_cls = 0.5 * (kl * p).sum() / p.sum() + 0.5 * (kl * (1 - p)).sum() / (1 - p).sum()
    w = p * batch["t_mask"].float()
    if float(w.sum()) < 1e-6:
        return kd_cls, loc.sum() * 0.0
    sel = w > 0
    pred = loc.float().permute(0, 2, 3, 1)[sel]
    target = batch["t_loc"].float().permute(0, 2, 3, 1)[sel]
    ww = w[sel]
    kd_reg = (reg_loss_per_point(pred, target, kind) * ww).sum() / ww.sum()
    return kd_cls, kd_reg


@dataclass
class LossOutput:
    total: torch.Tensor
    cls: torch.Tensor
    reg: torch.Tensor
    cen: torch.Tensor | None = None
    kd: torch.Tensor | None = None  # weighted distillation part of ``total`` (teacher targets in the batch)


def siamcan_loss(outputs: tuple[torch.Tensor, ...], batch: dict[str, torch.Tensor], reg_kind: str = "diou",
                 cls_weight: float = 1.0, reg_weight: float = 1.0, cen_weight: float = 1.0,
                 kd_cls_weight: float = 0.0, kd_reg_weight: float = 0.0) -> LossOutput:
    """Total = cls_weight * CE + reg_weight * IoU-family loss (+ cen_weight * centerness BCE when the model has it)
    (+ kd_cls_weight * cls distillation + kd_reg_weight * reg distillation when the batch has teacher targets)."""
    cls, loc = outputs[0], outputs[1]
    label = batch["label"]
    lc = cls_loss(cls, label)
    lr = reg_loss(loc, batch["loc"], label, reg_kind)
    total = cls_weight * lc + reg_weight * lr
    lcen = None
    if len(outputs) > 2:
        lcen = centerness_loss(outputs[2], batch["cen"], label)
        total = total + cen_weight * lcen
    lkd = None
    if "t_prob" in batch and (kd_cls_weight > 0 or kd_reg_weight > 0):
        kc, kr = distill_loss(cls, loc, batch, reg_kind)
        lkd = kd_cls_weight * kc + kd_reg_weight * kr
        total = total + lkd
    return LossOutput(total=total, cls=lc, reg=lr, cen=lcen, kd=lkd)

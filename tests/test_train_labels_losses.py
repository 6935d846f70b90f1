"""Label maps (SPEC §2) on hand-computed cases, IoU-family losses vs corner-coordinate references, LR schedule."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siamcan.config import TrainConfig
from siamcan.data.labels import make_targets
from siamcan.training.losses import cls_loss, reg_loss_per_point, siamcan_loss
from siamcan.training.schedule import lr_for

# box centred on grid point (12, 12) = crop pixel 127; w = 64, h = 32  ->  x 95..159, y 111..143
BOX = np.array([95.0, 111.0, 159.0, 143.0])


def _cells(label: np.ndarray, value: int) -> set[tuple[int, int]]:
    """(row, col) of the grid cells with this label value."""
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(label == value))}


def _rel(cells):
    return {(r - 12, c - 12) for r, c in cells}


# Hand computation (grid step 8 px, offsets in cells from the centre):
# circle C2: r = 32*16 / sqrt(32^2 + 16^2) = 14.31 px -> |d| < 14.31 px: the 3x3 block of offsets -1..1.
CIRCLE = {(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)}
# ellipse E2 (16, 8 px): dy = 0 and |dx| <= 8 px (dx = 16 gives exactly 1, not < 1).
ELLIPSE = {(0, -1), (0, 0), (0, 1)}
# not negative = inside or on E1 (32, 16 px): dy=0: |dx| <= 32 (9 cells), dy=+-8: |dx| <= 24 (7 each),
# dy=+-16: dx = 0 only (exactly on the ellipse, strict inequality -> not negative).
NOT_NEG = ({(0, dc) for dc in range(-4, 5)} | {(dr, dc) for dr in (-1, 1) for dc in range(-3, 4)}
           | {(-2, 0), (2, 0)})


@pytest.mark.parametrize("kind,pos", [("circle", CIRCLE), ("ellipse", ELLIPSE), ("ellipse_centerness", ELLIPSE),
                                      ("ellipse_circle", CIRCLE)])
def test_label_regions_hand_computed(kind, pos):
    t = make_targets(BOX, kind, False, np.random.default_rng(0), pos_num=1000, neg_num=1000)
    assert _rel(_cells(t.label, 1)) == pos
    ignore = NOT_NEG - pos
    assert _rel(_cells(t.label, -1)) == ignore
    assert len(_cells(t.label, 0)) == 625 - len(NOT_NEG)


def test_label_sampling_limits():
    big = np.array([40.0, 40.0, 215.0, 215.0])
    t = make_targets(big, "ellipse_circle", False, np.random.default_rng(1))
    assert (t.label == 1).sum() == 16 and (t.label == 0).sum() == 48
    t2 = make_targets(big, "ellipse_circle", False, np.random.default_rng(2))
    assert not np.array_equal(t.label, t2.label)


def test_negative_pair_labels():
    t = make_targets(BOX, "ellipse_circle", True, np.random.default_rng(0))
    assert (t.label == 1).sum() == 0
    assert _rel(_cells(t.label, 0)) == ELLIPSE  # the unrelated object's (w/4, h/4) ellipse are negatives
    big = np.array([40.0, 40.0, 215.0, 215.0])
    t = make_targets(big, "ellipse", True, np.random.default_rng(0))
    assert (t.label == 0).sum() == 16 and (t.label == 1).sum() == 0


def test_regression_and_centerness_targets():
    t = make_targets(BOX, "ellipse_centerness", False, np.random.default_rng(0))
    # grid point (row 12, col 13) = crop (135, 127): l = 135-95, t = 127-111, r = 159-135, b = 143-127
    assert t.loc[:, 12, 13].tolist() == [40.0, 16.0, 24.0, 16.0]
    assert t.loc[:, 0, 0].tolist() == [31 - 95.0, 31 - 111.0, 159 - 31.0, 143 - 31.0]
    assert t.cen[12, 12] == pytest.approx(1.0)
    assert t.cen[12, 13] == pytest.approx(math.sqrt(24 / 40))
    assert t.cen[0, 0] == 0.0


# ----------------------------------------------------------------------------------------------- losses
def _corners(ltrb: np.ndarray) -> np.ndarray:
    """Box corners (x1, y1, x2, y2) of a l,t,r,b prediction at the point (0, 0)."""
    l, t, r, b = ltrb
    return np.array([-l, -t, r, b])


def _ref_losses(p: np.ndarray, g: np.ndarray) -> tuple[float, float, float]:
    a, b = _corners(p), _corners(g)
    area = lambda c: (c[2] - c[0]) * (c[3] - c[1])
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = area(a) + area(b) - inter
    iou = (inter + 1) / (union + 1)
    ex = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
    c_area = area(ex)
    giou = iou - (c_area - union) / c_area
    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    rho2 = (ca[0] - cb[0]) ** 2 + (ca[1] - cb[1]) ** 2
    c2 = (ex[2] - ex[0]) ** 2 + (ex[3] - ex[1]) ** 2
    return 1 - iou, 1 - giou, 1 - iou + rho2 / c2


def test_iou_giou_diou_match_corner_reference():
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.5, 80, (200, 4))
    gt = rng.uniform(0.5, 80, (200, 4))
    ref = np.array([_ref_losses(p, g) for p, g in zip(pred, gt)])
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    g = torch.tensor(gt, dtype=torch.float64)
    for col, kind in enumerate(("iou", "giou", "diou")):
        out = reg_loss_per_point(p, g, kind)
        np.testing.assert_allclose(out.detach().double().numpy(), ref[:, col], rtol=1e-5, atol=1e-6)
        (grad,) = torch.autograd.grad(out.sum(), p)
        assert torch.isfinite(grad).all()
    same = reg_loss_per_point(g, g, "diou")
    assert torch.allclose(same, torch.zeros_like(same), atol=1e-6)


def test_cls_loss_balanced_halves():
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1, 0, 0] = 2.0  # positive point, fg logit 2
    logits[0, 0, 1, 1] = 1.0  # negative point, bg logit 1
    label = torch.tensor([[[1, -1], [0, 0]]])
    nll_pos = -math.log(math.exp(2) / (math.exp(2) + 1))
    nll_neg = (-math.log(math.exp(1) / (math.exp(1) + 1)) + math.log(2)) / 2
    assert cls_loss(logits, label).item() == pytest.approx(0.5 * nll_pos + 0.5 * nll_neg, rel=1e-6)
    no_pos = torch.tensor([[[-1, -1], [0, -1]]])  # one negative, both logits 0
    assert cls_loss(logits, no_pos).item() == pytest.approx(0.5 * math.log(2), rel=1e-6)


def test_total_loss_and_no_positive_batch():
    t = make_targets(BOX, "ellipse_circle", False, np.random.default_rng(0))
    batch = {"label": torch.from_numpy(t.label)[None], "loc": torch.from_numpy(t.loc)[None],
             "cen": torch.from_numpy(t.cen)[None]}
    cls = torch.randn(1, 2, 25, 25, requires_grad=True)
    loc = torch.rand(1, 4, 25, 25).mul(50).add(1).requires_grad_()
    out = siamcan_loss((cls, loc), batch, "diou")
    assert out.total.item() == pytest.approx(out.cls.item() + out.reg.item(), rel=1e-6)
    out.total.backward()
    assert torch.isfinite(loc.grad).all() and loc.grad.abs().sum() > 0
    batch["label"] = torch.where(batch["label"] == 1, torch.zeros_like(batch["label"]), batch["label"])
    out = siamcan_loss((cls, loc), batch, "giou")
    assert out.reg.item() == 0.0


# --------------------------------------------------------------------------------------------- schedule
def test_lr_schedule_matches_spec_table():
    cfg = TrainConfig()
    assert lr_for(cfg, 0) == pytest.approx(0.001)
    assert lr_for(cfg, 1) / lr_for(cfg, 0) == pytest.approx(1.3797, rel=1e-4)
    for epoch, lr in {5: 0.005, 10: 9.65e-4, 15: 1.86e-4, 19: 5e-5}.items():
        assert lr_for(cfg, epoch) == pytest.approx(lr, rel=3e-3), epoch
    lrs = [lr_for(cfg, e) for e in range(20)]
    assert all(a < b for a, b in zip(lrs[:5], lrs[1:6])) and all(a > b for a, b in zip(lrs[5:], lrs[6:]))

"""Distillation from NanoTrack (data/teacher.py, losses.distill_loss): grid alignment, the teacher's maps on real
training pairs against their ground truth, the loss, and a training run that logs it."""
from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from siamcan.config import load_config
from siamcan.data.pairs import PairDataset
from siamcan.data.teacher import NanoTrackTeacher
from siamcan.evaluation.geometry import box_iou
from siamcan.geometry import CropGeometry
from siamcan.training.losses import distill_loss, siamcan_loss
from siamcan.training.trainer import read_log, train

from test_train_loop import REPO, tiny_config


def test_resampling_puts_student_points_on_teacher_coordinates():
    lite, v2 = CropGeometry(), CropGeometry(stride=16, score_size=16)
    i0, i1, w = lite.resample_index(v2)
    t = i0 + w
    # student point k at (k - 12) * 8 + 127 px; teacher point i at (i - 8) * 16 + 127 px (OpenCV's generateGrids)
    np.testing.assert_allclose(t, 2 + np.arange(25) / 2)
    assert (i1 == i0 + 1).all() and (w >= 0).all() and (w <= 1).all()
    # siamcan-nano on NanoTrack v3's grid: the same 15 points (15 + 16 i px), so resampling is the identity
    nano = CropGeometry(stride=16, score_size=15)
    i0, i1, w = nano.resample_index(nano)
    np.testing.assert_allclose(i0 + w, np.arange(15))
    # and on v2's 16-point grid (-128 .. 112 around the centre): point k of nano is point k + 1 of v2
    i0, i1, w = nano.resample_index(v2)
    np.testing.assert_allclose(i0 + w, np.arange(15) + 1)
    with pytest.raises(Exception, match="does not cover"):
        lite.resample_index(CropGeometry(stride=16, score_size=9))


def test_resample_is_exact_on_a_linear_map(nanotrack_v2):
    te = NanoTrackTeacher(nanotrack_v2)
    ramp = te.gx + 2 * te.gy  # linear in crop pixels: resampling must give the same function at our points
    np.testing.assert_allclose(te._resample(ramp), te.px + 2 * te.py, atol=1e-3)


def test_teacher_finds_the_object_in_real_training_pairs(shared_data, nanotrack_v2):
    cfg = load_config(REPO / "configs" / "siamcan-lite-distill.yaml")
    t = dataclasses.replace(cfg.train, neg_prob=0.0, gray_prob=0.0,
                            datasets=tuple(d for d in cfg.train.datasets if d.name in ("DAVIS", "TLD")))
    t = dataclasses.replace(t, datasets=tuple(dataclasses.replace(d, root=str(shared_data / d.root.split("data/")[1]))
                                              for d in t.datasets))
    ds = PairDataset(t, t.datasets, 12, seed=3)
    te = NanoTrackTeacher(nanotrack_v2)
    px, py = CropGeometry().points()
    near, ious = [], []
    for i in range(len(ds)):
        item = ds[i]
        prob, ltrb, mask = te.pair(item["template"].numpy(), item["search"].numpy())
        assert prob.shape == (25, 25) and ltrb.shape == (4, 25, 25) and mask.dtype == bool
        k = np.unravel_index(prob.argmax(), prob.shape)
        x1, y1, x2, y2 = item["bbox"].numpy()
        near.append(np.hypot(px[k] - (x1 + x2) / 2, py[k] - (y1 + y2) / 2) < 16)
        teacher_box = (px[k] - ltrb[0][k], py[k] - ltrb[1][k], ltrb[0][k] + ltrb[2][k], ltrb[1][k] + ltrb[3][k])
        ious.append(box_iou(np.array(teacher_box), np.array([x1, y1, x2 - x1, y2 - y1]))[0])
    # ground truth is the independent reference: the teacher's peak is on the object and its box fits it
    assert np.mean(near) >= 0.75
    assert np.median(ious) >= 0.6


def _teacher_batch(b=2, s=25):
    rng = np.random.default_rng(0)
    p = torch.from_numpy(rng.uniform(0.01, 0.99, (b, s, s)).astype(np.float32))
    loc = torch.from_numpy(rng.uniform(5, 60, (b, 4, s, s)).astype(np.float32))
    mask = torch.from_numpy(rng.random((b, s, s)) > 0.3)
    return {"t_prob": p, "t_loc": loc, "t_mask": mask, "label": torch.full((b, s, s), -1), "loc": loc}


def test_distill_loss_is_zero_at_the_teacher_and_positive_elsewhere():
    batch = _teacher_batch()
    p = batch["t_prob"]
    cls = torch.stack([torch.log1p(-p), torch.log(p)], 1)  # softmax gives exactly the teacher's distribution
    kc, kr = distill_loss(cls, batch["t_loc"].clone(), batch)
    assert abs(kc.item()) < 1e-5 and abs(kr.item()) < 1e-5
    wrong = torch.zeros_like(cls, requires_grad=True)
    loc = (batch["t_loc"] * 1.5).requires_grad_()
    kc, kr = distill_loss(wrong, loc, batch)
    assert kc.item() > 0.05 and kr.item() > 0.05
    (kc + kr).backward()
    assert wrong.grad.abs().sum() > 0 and loc.grad.abs().sum() > 0
    out = siamcan_loss((wrong, loc), batch, kd_cls_weight=2.0, kd_reg_weight=0.5)
    assert out.kd is not None
    torch.testing.assert_close(out.kd, 2.0 * kc + 0.5 * kr)
    assert siamcan_loss((wrong, loc), batch).kd is None  # weights 0: no distillation term


def test_distill_loss_stays_finite_when_a_point_predicts_an_absurd_box():
    # seen in training: exp() of a far-off point gave 1e29-px distances; the areas overflowed float32 and the loss
    # went NaN (the step was skipped). The regression losses clamp predictions to 1e4 px.
    batch = _teacher_batch()
    batch["t_mask"][:] = True
    loc = batch["t_loc"].clone()
    loc[0, :, 3, 4] = 1e30
    loc.requires_grad_()
    cls = torch.zeros(2, 2, 25, 25, requires_grad=True)
    kc, kr = distill_loss(cls, loc, batch)
    assert torch.isfinite(kc) and torch.isfinite(kr)
    (kc + kr).backward()
    assert torch.isfinite(loc.grad).all()


def test_pairs_carry_the_teacher_targets_and_still_pickle(otb_train_data, nanotrack_v2):
    t = tiny_config(otb_train_data, teacher=str(nanotrack_v2)).train
    ds = PairDataset(t, t.datasets, 4, seed=0)
    item = ds[1]
    assert item["t_prob"].shape == (25, 25) and item["t_loc"].shape == (4, 25, 25) and item["t_mask"].shape == (25, 25)
    assert 0 <= float(item["t_prob"].min()) and float(item["t_prob"].max()) <= 1
    clone = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker gets: the teacher is re-made there
    torch.testing.assert_close(clone[1]["t_prob"], item["t_prob"])
    plain = PairDataset(tiny_config(otb_train_data).train, t.datasets, 4, seed=0)[1]
    assert "t_prob" not in plain
    torch.testing.assert_close(plain["search"], item["search"])  # the teacher changes no pair


def test_training_with_a_teacher_logs_the_distillation_loss(otb_train_data, nanotrack_v2, tmp_path):
    out = tmp_path / "kd"
    train(tiny_config(otb_train_data, epochs=1, teacher=str(nanotrack_v2), val_pairs=2,
                      val_datasets=tiny_config(otb_train_data).train.datasets), out, progress=False)
    rows = read_log(out / "log.csv")
    assert rows and all(r["kd"] > 0 for r in rows)
    assert all(r["val_kd"] > 0 for r in read_log(out / "val.csv"))
    with pytest.raises(Exception, match="train.teacher"):
        train(tiny_config(otb_train_data, teacher=str(tmp_path / "missing")), tmp_path / "x", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="backbone"):
        train(tiny_config(otb_train_data, teacher=str(empty)), tmp_path / "z", progress=False)
    with pytest.raises(Exception, match="kd_cls_weight"):
        train(tiny_config(otb_train_data, kd_cls_weight=-1.0), tmp_path / "y", progress=False)

"""Trainer: freezing per epoch, exact resume after an interrupted epoch, DDP (2 gloo processes) = single process,
configs, CLI errors. Tiny model: EfficientNet-Lite0 backbone (random init) with 16-channel heads."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from siamcan.cli.main import main as cli_main
from siamcan.config import Config, DatasetConfig, ModelConfig, TrainConfig, config_to_dict, load_config
from siamcan.errors import SiamcanError
from siamcan.models import build_model
from siamcan.models.weights import read_state_dict
from siamcan.training.trainer import (build_optimizer, check_config, check_files, read_log, set_train_mode,
                                      set_trainable, train)

from conftest import run_child

REPO = Path(__file__).resolve().parents[1]
LAST = ("_blocks.10._project_conv.",)  # cheap to unfreeze: no backward through dilated convs


class Killed(RuntimeError):
    """What the tests raise from ``train(on_step=...)`` to stop a run mid-epoch, as a kill would."""


def kill_after(steps: int):
    def on_step(n: int) -> None:
        if n >= steps:
            raise Killed(f"stopped after {n} steps")
    return on_step


def tiny_config(root: Path, **train) -> Config:
    t = dict(epochs=2, batch_size=2, pairs_per_epoch=4, num_workers=0, warmup_epochs=1, unfreeze_epoch=1,
             train_layers=LAST, pretrained_backbone=False, log_every=1, neg_prob=0.3, gray_prob=0.2, amp=False,
             datasets=(DatasetConfig(name="gen", format="otb", root=str(root)),))
    t.update(train)
    return Config(name="tiny", model=ModelConfig(backbone="efficientnet_lite0", channels=16), train=TrainConfig(**t))


def test_frozen_and_unfrozen_parameter_sets():
    cfg = Config(model=ModelConfig(backbone="efficientnet_lite0", channels=16),
                 train=TrainConfig(unfreeze_epoch=2, train_layers=("_blocks.9.", "_blocks.10."), backbone_lr_mult=0.1))
    model = build_model(cfg.model)
    for epoch in (0, 1):
        set_trainable(model, cfg, epoch)
        set_train_mode(model, cfg, epoch)
        assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("backbone."))
        assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("backbone."))
        assert not any(m.training for m in model.backbone.modules())
        assert all(m.training for m in model.neck.modules())
        assert len(build_optimizer(model, cfg).param_groups) == 1
    set_trainable(model, cfg, 2)
    set_train_mode(model, cfg, 2)
    trainable = {n for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad}
    assert trainable and all(n.startswith(("backbone._blocks.9.", "backbone._blocks.10.")) for n in trainable)
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith(("backbone._blocks.9.",
                                                                                 "backbone._blocks.10."))}
    bn_modes = {n: m.training for n, m in model.backbone.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert all(v == n.startswith(("_blocks.9.", "_blocks.10.")) for n, v in bn_modes.items())
    opt = build_optimizer(model, cfg)
    assert [g["lr_mult"] for g in opt.param_groups] == [1.0, 0.1]
    assert {id(p) for p in opt.param_groups[1]["params"]} == {id(p) for n, p in model.named_parameters()
                                                              if n in trainable}


def _losses(out: Path) -> list[tuple[float, float, float, float]]:
    return [(r["epoch"], r["step"], r["loss"], r["lr"]) for r in read_log(out / "log.csv")]


def test_resume_after_interrupted_epoch_reproduces_run(otb_train_data, tmp_path):
    cfg = tiny_config(otb_train_data, val_datasets=(DatasetConfig(name="v", format="otb", root=str(otb_train_data)),),
                      val_pairs=2)
    full = tmp_path / "full"
    train(cfg, full, progress=False)
    part = tmp_path / "part"
    with pytest.raises(Killed):
        train(cfg, part, progress=False, on_step=kill_after(3))  # killed in epoch 1 (2 steps per epoch)
    assert [p.name for p in (part / "checkpoints").iterdir()] == ["epoch-000"]
    train(cfg, part, resume=True, progress=False)
    a, b = _losses(full), _losses(part)
    assert len(a) == 4 and a == b  # identical loss trajectory, including the unfrozen epoch
    assert read_log(full / "val.csv") == read_log(part / "val.csv")
    wa, wb = read_state_dict(full / "model.safetensors"), read_state_dict(part / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # the backbone outside train_layers never changed; the unfrozen block did
    init = build_model(cfg.model).state_dict()
    assert (part / "loss.png").is_file() and (part / "config.yaml").is_file()
    state = torch.load(part / "checkpoints" / "epoch-001" / "state.pt", weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 4
    assert set(wa) == set(init)


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(otb_train_data, tmp_path):
    single = tiny_config(otb_train_data, batch_size=2, accum_steps=2, pairs_per_epoch=4)
    out1 = tmp_path / "single"
    train(single, out1, progress=False)
    ddp_cfg = tiny_config(otb_train_data, batch_size=2, accum_steps=1, pairs_per_epoch=4)
    cfg_file = tmp_path / "ddp.yaml"
    cfg_file.write_text(yaml.safe_dump(config_to_dict(ddp_cfg)))
    out2 = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "siamcan.cli.main", "train", str(cfg_file), "--output", str(out2), "--device", "cpu",
           "--no-progress"]
    r = run_child(cmd, env=env, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    model = build_model(single.model)
    params = {n for n, _ in model.named_parameters()}
    w1, w2 = read_state_dict(out1 / "model.safetensors"), read_state_dict(out2 / "model.safetensors")
    init = model.state_dict()
    moved = [n for n in params if not torch.equal(w1[n], init[n])]
    assert any(n.startswith("backbone._blocks.10._project_conv") for n in moved) and any(n.startswith("cls.") for n in moved)
    for n in params:
        torch.testing.assert_close(w1[n], w2[n], rtol=1e-4, atol=1e-5, msg=n)
    l1 = [r["loss"] for r in read_log(out1 / "log.csv")]
    l2 = [r["loss"] for r in read_log(out2 / "log.csv")]
    np.testing.assert_allclose(l1, l2, rtol=1e-4)


def test_a_config_is_valid_without_its_data_which_is_checked_when_training_starts(tmp_path, monkeypatch):
    """A clone without ../shared (issue 26): the shipped distillation config, whose teacher and datasets live there,
    passes check_config from any folder; the missing teacher is an error when a run starts, naming the key."""
    import dataclasses

    monkeypatch.chdir(tmp_path)  # its relative paths ("../shared/...") now point at nothing
    cfg = load_config(REPO / "src/siamcan/configs/siamcan-lite-distill.yaml")
    assert cfg.train.teacher and not Path(cfg.train.teacher).exists()
    check_config(cfg)
    with pytest.raises(SiamcanError, match="train.teacher: no such folder"):
        check_files(cfg)
    with pytest.raises(SiamcanError, match="train.teacher: no such folder"):
        train(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, teacher=str(tmp_path / "nothing"))),
              tmp_path / "out", device="cpu", progress=False)
    assert not (tmp_path / "out").exists()  # refused before the run folder is made


def test_all_configs_are_valid_and_ablations_complete():
    names = sorted(p.stem for p in (REPO / "src/siamcan/configs").glob("*.yaml"))
    expected = {"ablation-t3-circle", "ablation-t3-ellipse", "ablation-t3-ellipse-centerness",
                "ablation-t3-ellipse-circle", "ablation-t4-baseline-giou", "ablation-t4-baseline-diou",
                "ablation-t4-cross-attention-giou", "ablation-t4-cross-attention-diou",
                "ablation-t4-spatial-attention-diou"}
    assert expected <= set(names)
    for n in names:
        cfg = load_config(REPO / "src/siamcan/configs" / f"{n}.yaml")
        check_config(cfg)
    get = lambda n: load_config(REPO / "src/siamcan/configs" / f"{n}.yaml")
    assert get("ablation-t3-circle").train.label == "circle"
    assert get("ablation-t3-ellipse-centerness").model.centerness
    t4 = get("ablation-t4-baseline-giou")
    assert (t4.model.cross_attention, t4.model.spatial_attention, t4.train.reg_loss) == (False, False, "giou")
    r50 = get("siamcan-r50").train
    assert (r50.epochs, r50.batch_size, r50.pairs_per_epoch, r50.base_lr, r50.end_lr, r50.warmup_start_lr,
            r50.unfreeze_epoch, r50.backbone_lr_mult, r50.grad_clip, r50.neg_prob) == \
        (20, 28, 1_000_000, 0.005, 0.00005, 0.001, 10, 0.1, 10.0, 0.2)
    assert (r50.search_aug.shift, r50.search_aug.scale, r50.search_aug.blur, r50.template_aug.shift) == (64, 0.18, 0.2, 4)
    assert [(d.format, d.num_use, d.frame_range) for d in r50.datasets] == [
        ("vid", 100000, 100), ("ytb", 200000, 3), ("coco", 100000, 1), ("det", 200000, 1),
        ("got10k", 200000, 100), ("lasot", 200000, 100)]


def test_cli_missing_dataset_root_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(Path("no/such/root"))
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(config_to_dict(cfg)))
    assert cli_main(["train", str(f), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no/such/root" in err and "not found" in err
    bad = config_to_dict(cfg)
    bad["train"]["label"] = "square"
    f.write_text(yaml.safe_dump(bad))
    assert cli_main(["train", str(f)]) == 2
    assert "train.label" in capsys.readouterr().err


def test_init_weights_start_fine_tuning_from_a_whole_model(otb_train_data, tmp_path):
    first = tmp_path / "first"
    train(tiny_config(otb_train_data, epochs=1), first, progress=False)
    w0 = read_state_dict(first / "model.safetensors")
    # lr ~ 0: the fine-tuned weights must still be the init file's (only BN running statistics may move)
    tiny_lr = dict(base_lr=1e-12, warmup_start_lr=1e-12, end_lr=1e-12, weight_decay=0.0)
    ft = tmp_path / "ft"
    train(tiny_config(otb_train_data, epochs=1, init_weights=str(first / "model.safetensors"), **tiny_lr), ft,
          progress=False)
    w1 = read_state_dict(ft / "model.safetensors")
    params = {n for n, _ in build_model(tiny_config(otb_train_data).model).named_parameters()}
    for n in params:
        torch.testing.assert_close(w1[n], w0[n], rtol=0, atol=1e-9, msg=n)
    scratch = tmp_path / "scratch"
    train(tiny_config(otb_train_data, epochs=1, seed=99, **tiny_lr), scratch, progress=False)
    w2 = read_state_dict(scratch / "model.safetensors")
    assert not all(torch.equal(w2[n], w0[n]) for n in params)
    with pytest.raises(Exception, match="train.init_weights"):
        train(tiny_config(otb_train_data, init_weights=str(tmp_path / "missing.safetensors")), tmp_path / "x",
              progress=False)


def test_channels_last_training_matches_nchw(otb_train_data, tmp_path):
    logs = []
    for cl in (False, True):
        out = tmp_path / f"cl{cl}"
        train(tiny_config(otb_train_data, channels_last=cl), out, progress=False)
        logs.append([r["loss"] for r in read_log(out / "log.csv")])
    np.testing.assert_allclose(logs[0], logs[1], rtol=1e-4)


@pytest.mark.slow
def test_workers_start_after_opencv_used_its_threads(otb_train_data, tmp_path):
    """With OpenCV 5, a DataLoader worker forked after the main process ran OpenCV's thread pool hung forever in
    ``cv2.setNumThreads`` (every run with ``num_workers`` > 0 and a teacher hung before its first batch). Run in a
    child process so that a hang fails the test instead of stopping the suite."""
    cfg = tiny_config(otb_train_data, epochs=1, pairs_per_epoch=4, num_workers=1, unfreeze_epoch=5)
    cfg_file = tmp_path / "w.yaml"
    cfg_file.write_text(yaml.safe_dump(config_to_dict(cfg)))
    script = ("import sys, cv2, numpy as np\n"
              "cv2.setNumThreads(2)\n"
              "a = np.random.default_rng(0).random((1500, 1500), dtype=np.float32)\n"
              "for _ in range(3): cv2.GaussianBlur(a, (9, 9), 3)  # the pool now exists, with its locks\n"
              "from siamcan.cli.main import main\n"
              "sys.exit(main(['train', sys.argv[1], '--output', sys.argv[2], '--device', 'cpu', '--no-progress']))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    r = run_child([sys.executable, "-c", script, str(cfg_file), str(tmp_path / "out")], env=env,
                  text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").is_file()

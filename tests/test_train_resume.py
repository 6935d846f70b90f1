"""``siamcan train --resume`` keeps the run's own settings; a killed run's leftovers are cleaned at the next start;
a corrupt log is one line; Ctrl-C says how to resume; ``--threads`` (issue 19, items 1, 3, 8 and 9)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

from siamcan.cli.main import main
from siamcan.config import config_to_dict, load_config
from siamcan.training.resume import clean_stale_files
from siamcan.training.trainer import read_log, train

from test_train_loop import Killed, kill_after, tiny_config

DEAD_PID = 4194305  # above Linux's largest pid_max (2**22): never a live process

pytestmark = pytest.mark.usefixtures("one_thread")


def _yaml(cfg, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return path


@pytest.fixture
def killed_run(otb_train_data, tmp_path):
    """A run started as ``--epochs 2`` of a config with 5 epochs, killed in its second epoch."""
    cfg_file = _yaml(tiny_config(otb_train_data, epochs=5), tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    run_cfg = tiny_config(otb_train_data, epochs=2)  # = the config file + --epochs 2
    with pytest.raises(Killed):
        train(run_cfg, out, progress=False, on_step=kill_after(3))  # 2 steps an epoch: killed in epoch 2
    assert load_config(out / "config.yaml").train.epochs == 2
    return cfg_file, out


def test_resume_keeps_the_runs_epochs_and_config(killed_run, capsys):
    cfg_file, out = killed_run
    saved = load_config(out / "config.yaml")
    assert main(["train", str(cfg_file), "--output", str(out), "--resume", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "resuming with the run's saved config" in text and "train.epochs" in text
    assert "2 epochs x" in text and "resuming after epoch 0" in text
    assert load_config(out / "config.yaml") == saved  # not overwritten with the config file's 5 epochs
    assert max(r["epoch"] for r in read_log(out / "log.csv")) == 1  # epochs 0 and 1, not 0..4
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-000", "epoch-001"]


@pytest.mark.parametrize("option, value, ok", [
    ("--epochs", "5", False), ("--pairs-per-epoch", "8", False), ("--batch-size", "1", False), ("--seed", "7", False),
    ("--epochs", "2", True),  # the run's own value: nothing changes
])
def test_conflicting_override_on_resume_is_refused(killed_run, capsys, option, value, ok):
    cfg_file, out = killed_run
    saved = load_config(out / "config.yaml")
    rc = main(["train", str(cfg_file), "--output", str(out), "--resume", "--no-progress", option, value])
    err = capsys.readouterr().err
    if ok:
        assert rc == 0, err
        return
    assert rc == 2 and "Traceback" not in err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1 and option in line[0] and "conflicts with the run's" in line[0]
    assert load_config(out / "config.yaml") == saved


def test_ctrl_c_says_how_to_resume(otb_train_data, tmp_path, capsys, monkeypatch):
    import siamcan.training.trainer as trainer

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted)
    cfg_file = _yaml(tiny_config(otb_train_data), tmp_path / "my cfg.yaml")
    assert main(["train", str(cfg_file), "--output", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert "Resume with:" in err and f"siamcan train '{cfg_file}' --output {tmp_path / 'run'} --resume" in err


def test_killed_save_leftovers_are_cleaned_and_checkpoints_kept(killed_run, capsys):
    """Only this program's temp names whose process has ended are removed (issue 26: a user's ``.mydata.tmp/`` in
    the output folder was deleted as "an unfinished file of a killed run")."""
    cfg_file, out = killed_run
    dead = DEAD_PID
    junk = [out / "checkpoints" / f".epoch-001.siamcan-{dead}-k2j3h4.tmp",
            out / f".model.safetensors.siamcan-{dead}-a8b7c6.tmp", out / f".loss.png.siamcan-{dead}-x1.tmp.png",
            out / f".model-last.safetensors.siamcan-{dead}-q1w2e3.tmp"]
    junk[0].mkdir()
    (junk[0] / "model.safetensors").write_bytes(b"half")
    for p in junk[1:]:
        p.write_bytes(b"half")
    live = f".model.safetensors.siamcan-{os.getppid()}-zz.tmp"  # a run still going (a live process)
    users = [out / ".mydata.tmp", out / "notes.tmp", out / ".notes.txt.x1y2.tmp", out / "model.safetensorsa8b7c6.tmp",
             out / "checkpoints" / ".epoch-001-k2j3h4", out / live]
    users[0].mkdir()
    (users[0] / "keep.txt").write_text("mine")
    users[4].mkdir()
    for p in users[1:4] + users[5:]:
        p.write_text("mine")
    assert main(["train", str(cfg_file), "--output", str(out), "--resume", "--no-progress"]) == 0
    assert [p.name for p in junk if p.exists()] == []
    assert [p.name for p in users if not p.exists()] == []
    assert (users[0] / "keep.txt").read_text() == "mine"
    assert (out / "checkpoints" / "epoch-000" / "state.pt").is_file()
    assert clean_stale_files(out) == []  # nothing left: finished files are never touched


@pytest.mark.parametrize("content, needle", [
    ("epoch,step,loss\n0,1,0.5\nzero,2,0.4\n", "log.csv line 3 is corrupt"),
    ("epoch,step,loss\n0,1,abc\n", "log.csv line 2 is corrupt"),
    ("step,loss\n1,0.5\n", "not a siamcan training log"),
    ("epoch,step\n0,1\x00\n", "log.csv line"),
])
def test_corrupt_log_on_resume_is_one_line(killed_run, capsys, content, needle):
    cfg_file, out = killed_run
    (out / "log.csv").write_text(content)
    rc = main(["train", str(cfg_file), "--output", str(out), "--resume", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


def test_binary_log_on_resume_is_one_line(killed_run, capsys):
    cfg_file, out = killed_run
    (out / "log.csv").write_bytes("epoch,step\n0,1\n".encode("utf-16"))
    assert main(["train", str(cfg_file), "--output", str(out), "--resume", "--no-progress"]) == 2
    assert "log.csv line" in capsys.readouterr().err


def test_weights_and_checkpoints_follow_the_umask(otb_train_data, tmp_path):
    old = os.umask(0o022)
    try:
        train(tiny_config(otb_train_data, epochs=1), tmp_path / "a", progress=False)
        os.umask(0o077)
        train(tiny_config(otb_train_data, epochs=1), tmp_path / "b", progress=False)
    finally:
        os.umask(old)
    for run, fmode, dmode in (("a", 0o644, 0o755), ("b", 0o600, 0o700)):
        out = tmp_path / run
        for f in (out / "model.safetensors", out / "checkpoints" / "epoch-000" / "model.safetensors",
                  out / "checkpoints" / "epoch-000" / "state.pt", out / "log.csv"):
            assert f.stat().st_mode & 0o777 == fmode, f
        assert (out / "checkpoints" / "epoch-000").stat().st_mode & 0o777 == dmode


def test_train_threads_option(otb_train_data, tmp_path, capsys):
    from siamcan.threads import default_threads

    cfg_file = _yaml(tiny_config(otb_train_data, epochs=1), tmp_path / "cfg.yaml")
    before = torch.get_num_threads()
    try:
        assert main(["train", str(cfg_file), "--output", str(tmp_path / "a"), "--no-progress", "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
        assert main(["train", str(cfg_file), "--output", str(tmp_path / "b"), "--no-progress"]) == 0
        assert torch.get_num_threads() == default_threads()  # no workers: physical cores - 1, at least 1
    finally:
        torch.set_num_threads(before)
    for bad in (["--threads", "0"], ["--workers", "-1"], ["--seed", "-3"], ["--device", "bogus"]):
        assert main(["train", str(cfg_file), "--output", str(tmp_path / "c"), *bad]) == 2
        err = capsys.readouterr().err
        assert bad[0] in err and "Traceback" not in err

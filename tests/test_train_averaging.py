"""Weight averaging over the last epochs (train.average_last): the mean is exact, BatchNorm statistics are
re-estimated only where layers trained, a finished run re-averages identically on --resume, bad settings are
one-line errors, and `siamcan train --resume --average-last N` averages a finished run after the fact."""
from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

from siamcan.cli.main import main as cli_main
from siamcan.config import config_to_dict
from siamcan.errors import SiamcanError
from siamcan.models.weights import read_metadata, read_state_dict, save_model
from siamcan.training.averaging import average_state_dicts, recompute_bn
from siamcan.training.trainer import check_config, train
from test_train_loop import tiny_config


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_average_state_dicts_is_the_elementwise_mean(tmp_path):
    nets = [_net(s) for s in range(3)]
    for i, n in enumerate(nets):
        n[1].num_batches_tracked.fill_(10 * i)
        save_model(n, tmp_path / f"{i}.safetensors")
    avg = average_state_dicts([tmp_path / f"{i}.safetensors" for i in range(3)])
    w = torch.stack([n[0].weight.detach() for n in nets]).mean(0)
    torch.testing.assert_close(avg["0.weight"], w, rtol=0, atol=1e-7)
    assert avg["1.num_batches_tracked"].item() == 20  # integer buffers: the last file's
    torch.save({"other": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(SiamcanError, match="other tensors"):
        average_state_dicts([tmp_path / "0.safetensors", tmp_path / "bad.pt"])
    with pytest.raises(SiamcanError, match="no checkpoints"):
        average_state_dicts([])


class _Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.BatchNorm2d(3), nn.BatchNorm2d(3)

    def forward(self, t, s):
        return self.a(t), self.b(s)


def test_recompute_bn_uses_all_batches_and_skips_frozen_layers():
    m = _Pair()
    m.b.eval()  # frozen: its statistics must stay
    before = m.b.running_mean.clone()
    g = torch.Generator().manual_seed(0)
    batches = [{"template": torch.randn(4, 3, 5, 5, generator=g) * 2 + 1, "search": torch.randn(4, 3, 5, 5, generator=g)}
               for _ in range(3)]
    assert recompute_bn(m, batches, torch.device("cpu")) == 1
    allt = torch.cat([b["template"] for b in batches])
    torch.testing.assert_close(m.a.running_mean, allt.mean((0, 2, 3)), rtol=0, atol=1e-5)
    # momentum None: the plain mean of the per-batch (unbiased) variances
    var = torch.stack([b["template"].var((0, 2, 3), unbiased=True) for b in batches]).mean(0)
    torch.testing.assert_close(m.a.running_var, var, rtol=1e-5, atol=1e-5)
    assert torch.equal(m.b.running_mean, before)
    assert m.a.momentum == 0.1  # restored


def test_training_ships_the_mean_of_the_last_epochs_and_resume_repeats_it(otb_train_data, tmp_path, capsys):
    cfg = tiny_config(otb_train_data, epochs=3, average_last=2, average_bn_pairs=4)
    out = tmp_path / "run"
    summary = train(cfg, out, progress=False)
    assert "epochs 2-3" in summary["averaged"]
    shipped, last = read_state_dict(out / "model.safetensors"), read_state_dict(out / "model-last.safetensors")
    e1, e2 = (read_state_dict(out / "checkpoints" / f"epoch-00{i}" / "model.safetensors") for i in (1, 2))
    assert all(torch.equal(last[k], e2[k]) for k in e2)
    # parameters are exactly the mean; BN statistics were re-estimated, so they are not
    w = "neck.0.downsample.0.weight"
    torch.testing.assert_close(shipped[w], (e1[w] + e2[w]) / 2, rtol=0, atol=1e-7)
    assert not torch.equal(shipped[w], e2[w])
    assert "epochs 2-3" in read_metadata(out / "model.safetensors")["averaged"]
    capsys.readouterr()
    again = train(cfg, out, resume=True, progress=False)  # finished run: only the averaging runs again
    assert again["steps"] == 0
    assert "final loss" not in capsys.readouterr().out  # no step ran: no loss to report (was "final loss nan")
    redo = read_state_dict(out / "model.safetensors")
    assert all(torch.equal(redo[k], shipped[k]) for k in shipped)
    # after the fact, from the command line: average a finished run that was trained without it
    plain = tmp_path / "plain"
    train(tiny_config(otb_train_data, epochs=3, average_bn_pairs=4), plain, progress=False)
    assert not (plain / "model-last.safetensors").exists()
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(config_to_dict(tiny_config(otb_train_data, epochs=3, average_bn_pairs=4))))
    assert cli_main(["train", str(cfg_file), "--output", str(plain), "--resume", "--average-last", "2",
                     "--no-progress"]) == 0
    cli = read_state_dict(plain / "model.safetensors")
    assert all(torch.equal(cli[k], shipped[k]) for k in shipped)  # same seed: the same run, the same mean


def test_averaging_settings_are_checked(otb_train_data):
    with pytest.raises(SiamcanError, match="keep_checkpoints"):
        check_config(tiny_config(otb_train_data, epochs=4, average_last=3, keep_checkpoints=2))
    with pytest.raises(SiamcanError, match="more than train.epochs"):
        check_config(tiny_config(otb_train_data, epochs=2, average_last=3))
    with pytest.raises(SiamcanError, match=">= 0"):
        check_config(tiny_config(otb_train_data, average_bn_pairs=-1))

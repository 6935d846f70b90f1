"""CUDA paths (run on a machine with a GPU; skipped elsewhere, so CI without a GPU skips the whole file)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from siamcan.tracking.clips import generated_clip
from siamcan.zoo import seeded_model
from siamcan.config import config_to_dict
from siamcan.models import build_model
from siamcan.models.weights import read_state_dict
from siamcan.tracking.engine import TorchEngine
from siamcan.tracking.fast import FastEngine
from siamcan.tracking.tracker import SiamCANTracker
from siamcan.training.trainer import read_log, train

from conftest import run_child
from test_train_loop import REPO, tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _crops(seed=0):
    g = torch.Generator().manual_seed(seed)
    z = nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=g) * 255, size=127, mode="bilinear")
    x = nn.functional.interpolate(torch.rand(1, 3, 32, 32, generator=g) * 255, size=255, mode="bilinear")
    to_np = lambda t: t[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return to_np(z), to_np(x)


@pytest.mark.parametrize("name", ["siamcan-lite", "siamcan-r50"])
def test_fast_engine_equals_eager_on_cuda(name):
    """Fast and eager engines on CUDA give the same maps in float32 (TF32 off), also when the model was already
    moved to the GPU (building the fused net then failed: CPU and CUDA tensors mixed)."""
    model, _ = seeded_model(name, seed=1)
    eager = TorchEngine(model, "cuda")  # moves the model to the GPU
    fast = FastEngine(model, "cuda")
    z, x = _crops()
    c0, l0 = eager.track(x, eager.template(z))
    c1, l1 = fast.track(x, fast.template(z))
    assert np.abs(c1 - c0).max() <= 1e-3 * max(1.0, np.abs(c0).max())
    assert np.abs(l1 - l0).max() <= 1e-3 * np.abs(l0).max()


def test_fast_boxes_equal_eager_on_cuda_clip():
    """Boxes over a generated clip (no near-ties): fast vs eager on CUDA within 1e-2 px."""
    model, cfg = seeded_model("siamcan-lite", seed=0)
    frames, box = generated_clip(60)
    out = []
    for engine in (TorchEngine(model, "cuda"), FastEngine(model, "cuda")):
        tr = SiamCANTracker(engine, cfg.tracker)
        tr.init(frames[0], box)
        out.append(np.array([tr.update(f)[0] for f in frames[1:]]))
    assert np.abs(out[0] - out[1]).max() < 1e-2


def test_train_on_cuda_with_workers(otb_train_data, tmp_path):
    cfg = tiny_config(otb_train_data, epochs=1, pairs_per_epoch=8, batch_size=4, num_workers=2, unfreeze_epoch=5)
    out = train(cfg, tmp_path / "run", device="cuda", progress=False)
    w = read_state_dict(tmp_path / "run" / "model.safetensors")
    assert all(t.device.type == "cpu" for t in w.values()) and out


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_train_on_cuda_mixed_precision(otb_train_data, tmp_path, dtype):
    """train.amp on CUDA (fp16 with the gradient scaler): finite losses, weights move, the file holds float32."""
    cfg = tiny_config(otb_train_data, epochs=1, pairs_per_epoch=8, batch_size=4, amp=True, amp_dtype=dtype,
                      unfreeze_epoch=5)
    train(cfg, tmp_path / "run", device="cuda", progress=False)
    losses = [r["loss"] for r in read_log(tmp_path / "run" / "log.csv")]
    assert losses and all(np.isfinite(losses))
    w = read_state_dict(tmp_path / "run" / "model.safetensors")
    init = build_model(cfg.model).state_dict()
    assert all(t.dtype == init[k].dtype for k, t in w.items())
    assert any(not torch.equal(w[k], init[k]) for k in w if k.startswith("cls."))


def test_ddp_nccl_matches_single_process(otb_train_data, tmp_path):
    """torchrun with one GPU (NCCL process group, DDP wrapper) trains to the single-process weights."""
    cfg = tiny_config(otb_train_data, epochs=1, pairs_per_epoch=8, batch_size=4, unfreeze_epoch=5)
    train(cfg, tmp_path / "single", device="cuda", progress=False)
    cfg_file = tmp_path / "ddp.yaml"
    cfg_file.write_text(yaml.safe_dump(config_to_dict(cfg)))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           "-m", "siamcan.cli.main", "train", str(cfg_file), "--output", str(tmp_path / "ddp"), "--no-progress"]
    r = run_child(cmd, env=env, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "cuda:0" in r.stdout + r.stderr
    w1 = read_state_dict(tmp_path / "single" / "model.safetensors")
    w2 = read_state_dict(tmp_path / "ddp" / "model.safetensors")
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-4, atol=1e-5, msg=k)


def test_cuda_graph_replay_gives_the_same_boxes():
    """The graph-replayed fast path == the same engine launching kernels one by one, over two targets in a row
    (the graph is recorded again for the second template)."""
    model, cfg = seeded_model("siamcan-lite", seed=0)
    frames, box = generated_clip(40)
    graphed, plain = FastEngine(model, "cuda"), FastEngine(model, "cuda", cuda_graph=False)
    assert graphed.cuda_graph and not plain.cuda_graph
    runs = []
    for engine in (graphed, plain):
        boxes = []
        for start in (0, 20):  # a second init on the same engine: new state, new graph
            tr = SiamCANTracker(engine, cfg.tracker)
            tr.init(frames[start], box if start == 0 else boxes[-1])
            boxes += [tr.update(f)[0] for f in frames[start + 1:start + 20]]
        runs.append(np.array(boxes))
    assert np.abs(runs[0] - runs[1]).max() <= 1e-4


def test_cuda_graphs_kept_for_a_lost_targets_alternating_calls():
    """While a target is lost, each frame runs one crop (the local box) and then one batch of tiles against the same
    template (re-detection, issue 25): each keeps its own recorded graph (two recordings in all, not two a frame),
    and both give what the engine gives launching kernels one by one."""
    model, _ = seeded_model("siamcan-nano", seed=0)
    z, x = _crops()
    xs = np.stack([np.roll(x, 16 * k, axis=1) for k in range(7)])
    outs = {}
    for engine in (FastEngine(model, "cuda"), FastEngine(model, "cuda", cuda_graph=False)):
        state = engine.template(z)
        stacked = engine.stack_states([state] * len(xs))
        outs[engine.cuda_graph] = [engine.track(x, state) if k % 2 == 0 else engine.track_batch(xs, stacked)
                                   for k in range(6)]
        if engine.cuda_graph:
            assert len(engine._graphs) == 2
    for a, b in zip(outs[True], outs[False]):
        for u, v in zip(a, b):
            assert np.abs(u - v).max() <= 1e-4

"""Memory stays flat over long sequences (issue 7).

Per update the network dominates the cost (siamcan-lite eager: ~15-30 ms on a quiet 2-core CPU, several times
that when the cores are shared; cropping and post-processing take ~0.3 ms). Two tests therefore split the work:

* 10,000 updates through the real tracker, crop and eager engine (tensor conversion, ``inference_mode``, numpy
  hand-back) with a stand-in network of the same interface - any per-frame leak in the tracking code shows up;
* a few hundred updates of the real siamcan-lite network (ImageNet backbone) at the real crop sizes.

``SIAMCAN_LONG_MEMORY=1`` runs the real network for the full 10,000 frames too (minutes on a CPU).
Resident memory comes from ``/proc/self/status`` (VmRSS); growth after warm-up must stay under the bound.
"""
from __future__ import annotations

import gc
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from siamcan.tracking.engine import TorchEngine
from siamcan.tracking.tracker import SiamCANTracker

pytestmark = [pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)"),
              pytest.mark.usefixtures("one_thread")]

MB = 1024 * 1024


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def make_frames(n: int = 8, size: tuple[int, int] = (160, 120)) -> list[np.ndarray]:
    """A handful of 160x120 frames with a textured square drifting across (reused cyclically)."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        img = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
        x, y = 40 + 10 * i, 30 + 5 * i
        img[y:y + 30, x:x + 30] = rng.integers(120, 255, (30, 30, 3), dtype=np.uint8)
        frames.append(cv2.GaussianBlur(img, (3, 3), 0))
    return frames


class StandIn(nn.Module):
    """A tiny network with SiamCAN's ``template``/``track`` interface and output shapes."""

    def __init__(self):
        super().__init__()
        self.z = nn.Conv2d(3, 8, 3, padding=1)
        self.x = nn.Conv2d(3, 8, 3, padding=1)
        self.cls = nn.Conv2d(8, 2, 1)
        self.loc = nn.Conv2d(8, 4, 1)

    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (F.adaptive_avg_pool2d(self.z(F.avg_pool2d(z / 255.0, 5)), 1),)

    def track(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.x(F.adaptive_avg_pool2d(x / 255.0, 25)) * state[0]  # pool first: keep the stand-in cheap
        return self.cls(f), torch.exp(self.loc(f)) * 20.0


def run_and_measure(tracker: SiamCANTracker, frames: list[np.ndarray], n_updates: int, warmup: int,
                    samples: int = 10) -> tuple[float, float, list[float]]:
    """Track ``n_updates`` frames; return (RSS after warm-up MB, max growth MB, sampled growth MB)."""
    tracker.init(frames[0], [40, 30, 30, 30])
    for i in range(warmup):
        tracker.update(frames[(i + 1) % len(frames)])
    gc.collect()
    base = rss_bytes()
    every = max(n_updates // samples, 1)
    growth = []
    for i in range(n_updates):
        box, score = tracker.update(frames[(i + 1) % len(frames)])
        if (i + 1) % every == 0:
            assert np.isfinite(box).all() and np.isfinite(score)
            gc.collect()
            growth.append((rss_bytes() - base) / MB)
    return base / MB, max(growth), growth


@pytest.mark.slow
def test_memory_flat_over_10000_updates():
    torch.manual_seed(0)
    tracker = SiamCANTracker(TorchEngine(StandIn(), "cpu"))
    base, worst, growth = run_and_measure(tracker, make_frames(), 10_000, warmup=300)
    print(f"\n10,000 updates (tracker + eager engine, stand-in network): RSS {base:.1f} MB after warm-up, "
          f"growth per 1,000 frames {[round(g, 2) for g in growth]} MB")
    assert worst < 50, growth


@pytest.mark.slow
def test_memory_flat_real_lite_network(lite_model):
    model, cfg = lite_model
    n = 10_000 if os.environ.get("SIAMCAN_LONG_MEMORY") else 200
    tracker = SiamCANTracker(TorchEngine(model, "cpu"), cfg.tracker)
    base, worst, growth = run_and_measure(tracker, make_frames(), n, warmup=20, samples=4)
    print(f"\n{n} updates of siamcan-lite (eager): RSS {base:.1f} MB after warm-up, "
          f"growth {[round(g, 2) for g in growth]} MB")
    assert worst < (50 if n >= 10_000 else 20), growth

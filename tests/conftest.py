"""Shared fixtures. Real data is read from ../shared/data beside the checkout; tests that need it skip cleanly
when it is absent (SIAMCAN_SHARED_DATA overrides the location)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SIAMCAN_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dev_otb(shared_data) -> Path:
    p = shared_data / "dev" / "otb-format"
    if not p.is_dir():
        pytest.skip("dev/otb-format not in shared data")
    return p


@pytest.fixture(scope="session")
def oracles(shared_data) -> Path:
    p = shared_data / "oracles"
    if not p.is_dir():
        pytest.skip("oracles not in shared data")
    return p


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)

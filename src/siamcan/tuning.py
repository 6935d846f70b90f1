"""Tracker hyper-parameter search (window influence, penalty k, lr), as SiamBAN did with optuna (SPEC §4).

Frames are decoded once and kept in memory; the network runs once per frame per trial (crops depend on the
tracker state, so nothing else can be cached). One-pass datasets maximise the mean success AUC, VOT datasets the
EAO. Optuna's TPE sampler with a fixed seed makes a search reproducible on the same machine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .config import TrackerConfig
from .errors import SiamcanError
from .evaluation.datasets import Dataset, Sequence
from .evaluation.metrics import EAO_RANGES, eao, score_one_pass, score_vot, summarize_one_pass
from .evaluation.runner import run_one_pass, run_supervised
from .tracking.tracker import SiamCANTracker

# SiamBAN's search space (SPEC §4)
SPACE = {"window_influence": (0.05, 0.65), "penalty_k": (0.0, 0.6), "lr": (0.1, 0.8)}


@dataclass
class InMemorySequence(Sequence):
    """A sequence whose (possibly shortened) frames are decoded once and held in memory."""

    images: list[np.ndarray] = field(default_factory=list)

    def frame(self, i: int) -> np.ndarray:
        return self.images[i]


def cache_sequence(seq: Sequence, max_frames: int | None = None) -> InMemorySequence:
    n = len(seq) if not max_frames else min(len(seq), max_frames)
    images = [seq.frame(i) for i in range(n)]
    h, w = images[0].shape[:2]
    fields = {f.name: getattr(seq, f.name) for f in dataclasses.fields(Sequence)}
    fields.update(frames=seq.frames[:n], gt=seq.gt[:n], width=w, height=h,
                  absent=None if seq.absent is None else seq.absent[:n],
                  tags={k: v[:n] for k, v in seq.tags.items()})
    return InMemorySequence(**fields, images=images)


def score_params(engine, base: TrackerConfig, params: dict[str, float], sequences: list[InMemorySequence],
                 supervised: bool, vot_year: str = "VOT2018", exclude_absent: bool = False) -> float:
    """Objective for one parameter set: mean success AUC (one-pass) or EAO (VOT)."""
    tracker = SiamCANTracker(engine, dataclasses.replace(base, **params))
    if supervised:
        scores = [score_vot(s, run_supervised(tracker, s)) for s in sequences]
        low, high = EAO_RANGES.get(vot_year, EAO_RANGES["VOT2018"])
        return float(np.nan_to_num(eao(scores, low, high)))
    scores = [score_one_pass(s, np.asarray(run_one_pass(tracker, s)), exclude_absent) for s in sequences]
    return summarize_one_pass(scores)["success_auc"]


def search_space(overrides: dict[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """SiamBAN's ``SPACE`` with some ranges replaced; unknown keys and empty ranges are errors."""
    space = {**SPACE, **(overrides or {})}
    for k, (lo, hi) in space.items():
        if k not in SPACE or not lo < hi:
            raise SiamcanError(f"search range {k}={lo}:{hi}: the key must be one of {', '.join(SPACE)} and low < high")
    return space


def tune(engine, base: TrackerConfig, dataset: Dataset, trials: int, seed: int = 0,
         max_frames: int | None = None, vot_year: str = "VOT2018",
         callback: Callable[[int, dict, float], None] | None = None,
         space: dict[str, tuple[float, float]] | None = None) -> tuple[dict[str, float], float, list[dict]]:
    """Run the search over ``space`` (default: SiamBAN's ``SPACE``); returns (best params, best objective, all
    trials as dicts)."""
    space = search_space(space)
    try:
        import optuna
    except ImportError:
        raise SiamcanError("siamcan tune needs optuna: pip install 'siamcan[tune]' (or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sequences = [cache_sequence(s, max_frames) for s in dataset]
    history: list[dict] = []

    def objective(trial: "optuna.Trial") -> float:
        params = {k: trial.suggest_float(k, lo, hi) for k, (lo, hi) in space.items()}
        value = score_params(engine, base, params, sequences, dataset.supervised, vot_year, dataset.exclude_absent)
        history.append({"trial": trial.number, **params, "objective": value})
        if callback is not None:
            callback(trial.number, params, value)
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    # the config's current values are the first trial, so tuning never reports worse than the starting point
    study.enqueue_trial({k: float(getattr(base, k)) for k in SPACE})
    study.optimize(objective, n_trials=trials)
    return dict(study.best_params), float(study.best_value), history

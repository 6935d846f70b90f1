"""Tracker hyper-parameter search (window influence, penalty k, lr), as SiamBAN did with optuna (SPEC §4).

Frames are decoded once and kept in memory; the network runs once per frame per trial (crops depend on the
tracker state, so nothing else can be cached). One-pass datasets maximise the mean success AUC, VOT datasets the
EAO. Optuna's TPE sampler with a fixed seed makes a search reproducible on the same machine.
"""
from __future__ import annotations

import dataclasses
import math
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
# the values the tracker accepts (TrackerConfig): a range may not leave them
VALID = {"window_influence": (0.0, 1.0), "penalty_k": (0.0, math.inf), "lr": (0.0, 1.0)}


class TuneInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM during :func:`tune`; ``history`` holds the trials that finished."""

    def __init__(self, history: list[dict]):
        super().__init__()
        self.history = history


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
    fields = seq.cut(0, n).as_kwargs()
    fields.update(width=w, height=h)
    return InMemorySequence(**fields, images=images)


def _score_sequence(tracker, s, supervised: bool, exclude_absent: bool):
    if supervised:
        return score_vot(s, run_supervised(tracker, s))
    return score_one_pass(s, np.asarray(run_one_pass(tracker, s)), exclude_absent)


def _objective(scores: list, supervised: bool, vot_year: str) -> float:
    if supervised:
        low, high = EAO_RANGES.get(vot_year, EAO_RANGES["VOT2018"])
        return float(np.nan_to_num(eao(scores, low, high)))
    return summarize_one_pass(scores)["success_auc"]


def score_params(engine, base: TrackerConfig, params: dict[str, float], sequences: list[InMemorySequence],
                 supervised: bool, vot_year: str = "VOT2018", exclude_absent: bool = False) -> float:
    """Objective for one parameter set: mean success AUC (one-pass) or EAO (VOT)."""
    tracker = SiamCANTracker(engine, dataclasses.replace(base, **params))
    return _objective([_score_sequence(tracker, s, supervised, exclude_absent) for s in sequences], supervised,
                      vot_year)


# ----------------------------------------------------------------------------------- parallel trials
_WORKER: dict = {}


def _worker_init(model, weights, threads: int, sequences: list, max_frames: int | None) -> None:
    """A tuning worker: its own network (``threads`` threads) and, decoded on first use, its own frame cache."""
    from .threads import set_threads
    from .zoo import Tracker

    set_threads(threads)
    _WORKER.update(engine=Tracker.from_pretrained(model, weights=weights, threads=threads).engine,
                   sequences=sequences, max_frames=max_frames, cache={})


def _worker_score(index: int, base: TrackerConfig, params: dict, supervised: bool, exclude_absent: bool):
    cache = _WORKER["cache"]
    if index not in cache:
        cache[index] = cache_sequence(_WORKER["sequences"][index], _WORKER["max_frames"])
    tracker = SiamCANTracker(_WORKER["engine"], dataclasses.replace(base, **params))
    return _score_sequence(tracker, cache[index], supervised, exclude_absent)


class ParallelScorer:
    """Scores parameter sets with ``workers`` processes, one sequence per task (longest first), each worker holding
    the network and the frames it has decoded. Used by :func:`tune` when ``workers`` > 1."""

    def __init__(self, model, weights, dataset: Dataset, workers: int, max_frames: int | None = None):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        seqs = list(dataset)
        self.n = len(seqs)
        self.order = sorted(range(self.n), key=lambda i: -len(seqs[i]))
        self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                        initargs=(model, weights, 1, seqs, max_frames))

    def __call__(self, base: TrackerConfig, params: dict, supervised: bool, vot_year: str,
                 exclude_absent: bool) -> float:
        futures = {i: self.pool.submit(_worker_score, i, base, params, supervised, exclude_absent)
                   for i in self.order}
        return _objective([futures[i].result() for i in range(self.n)], supervised, vot_year)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def search_space(overrides: dict[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """SiamBAN's ``SPACE`` with some ranges replaced; unknown keys, empty ranges and ranges outside the values the
    tracker accepts (:data:`VALID`) are errors."""
    space = {**SPACE, **(overrides or {})}
    for k, (lo, hi) in space.items():
        if k not in SPACE or not lo < hi:
            raise SiamcanError(f"search range {k}={lo}:{hi}: the key must be one of {', '.join(SPACE)} and low < high")
        vlo, vhi = VALID[k]
        if not (vlo <= lo and hi <= vhi and math.isfinite(hi)):
            raise SiamcanError(f"search range {k}={lo}:{hi} leaves the values {k} can take "
                               f"({vlo:g} to {vhi:g}); choose a range inside them")
    return space


def include_start(space: dict[str, tuple[float, float]], base: TrackerConfig
                  ) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """The space widened where the config's own value (the first trial) lies outside a range, and the keys widened.

    The shipped siamcan-lite ``penalty_k`` (0.62) lies above SiamBAN's 0.6, for example: without this the first
    trial would be outside its distribution and optuna would warn."""
    out, widened = dict(space), []
    for k, (lo, hi) in space.items():
        v = float(getattr(base, k))
        if not lo <= v <= hi:
            out[k] = (min(lo, v), max(hi, v))
            widened.append(k)
    return out, widened


def tune(engine, base: TrackerConfig, dataset: Dataset, trials: int, seed: int = 0,
         max_frames: int | None = None, vot_year: str = "VOT2018",
         callback: Callable[[int, dict, float], None] | None = None,
         space: dict[str, tuple[float, float]] | None = None,
         scorer: ParallelScorer | None = None) -> tuple[dict[str, float], float, list[dict]]:
    """Run the search over ``space`` (default: SiamBAN's ``SPACE``, widened to hold the config's own values); returns
    (best params, best objective, all trials as dicts). Ctrl-C / SIGTERM ends the search after the trials that
    finished: :class:`TuneInterrupted` carries them. With a ``scorer`` (:class:`ParallelScorer`) the trials' sequences
    run in its worker processes (same objective, same sampler: the same trials as one process)."""
    space, _ = include_start(search_space(space), base)
    try:
        import optuna
    except ImportError:
        raise SiamcanError("siamcan tune needs optuna: pip install 'siamcan[tune]' (or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if max_frames is not None and max_frames < 2:
        raise SiamcanError(f"max_frames must be at least 2 (the init frame and one tracked), got {max_frames}")
    history: list[dict] = []
    interrupted = []
    try:
        sequences = [cache_sequence(s, max_frames) for s in dataset] if scorer is None else []
    except KeyboardInterrupt:
        raise TuneInterrupted(history) from None

    def objective(trial: "optuna.Trial") -> float:
        params = {k: trial.suggest_float(k, lo, hi) for k, (lo, hi) in space.items()}
        try:
            if scorer is None:
                value = score_params(engine, base, params, sequences, dataset.supervised, vot_year,
                                     dataset.exclude_absent)
            else:
                value = scorer(base, params, dataset.supervised, vot_year, dataset.exclude_absent)
        except KeyboardInterrupt:  # end the study quietly: optuna would log this trial's failure with a traceback
            interrupted.append(trial.number)
            trial.study.stop()
            raise optuna.TrialPruned() from None
        history.append({"trial": trial.number, **params, "objective": value})
        if callback is not None:
            callback(trial.number, params, value)
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    # the config's current values are the first trial, so tuning never reports worse than the starting point
    study.enqueue_trial({k: float(getattr(base, k)) for k in SPACE})
    try:
        study.optimize(objective, n_trials=trials)
    except KeyboardInterrupt:  # between two trials
        raise TuneInterrupted(history) from None
    if interrupted:
        raise TuneInterrupted(history)
    return dict(study.best_params), float(study.best_value), history

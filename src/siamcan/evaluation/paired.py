"""Paired bootstrap comparisons of trackers (``siamcan report --versus NAME [--blocks N]``).

The question a default change must answer is "is B ahead of A on sequences like these, or did a few sequences
happen to favour it?". Both trackers are scored on the same resamples, so the comparison is paired:

* **by sequence** (the default): the sequences are drawn with replacement; a resample's score is the mean over the
  drawn sequences (success AUC), or the VOT-LT F-score of the drawn sequences' averaged precision/recall curves;
* **by block** (``blocks=N``): each sequence is cut into ``N`` consecutive blocks of frames and the blocks are drawn
  with replacement within each sequence; a resample's per-sequence score pools the drawn blocks' frames. This is the
  one resampling a single long sequence (a long-term validation video) allows. With every block drawn once the
  pooled score is exactly the sequence's own (the success AUC is a mean over frames, and the long-term precision
  and recall are ratios of sums over frames), so the point estimates equal the report's.

The measures are the success AUC and, where the ground truth marks absent frames, the VOT-LT F-score (each
tracker at its own confidence thresholds, as :mod:`.longterm` computes them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SiamcanError
from . import metrics as M
from .longterm import determine_thresholds, f_curve

MAX_DRAWS = 10**7  # resamples x units: the draws and the pooled sums stay well under a GB


@dataclass
class Units:
    """One tracker's scores cut into the units that are resampled: per sequence, per unit (a block, or the whole
    sequence), the summed per-frame success ``g`` and the frame count ``n``; for the long-term measures, at each of
    the tracker's thresholds, the overlap summed over the reported frames ``s``, the count of reported frames ``r``,
    and the visible frames ``v``."""

    g: list[np.ndarray]
    n: list[np.ndarray]
    s: list[np.ndarray] | None = None
    r: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None


def _cut(length: int, blocks: int) -> list[np.ndarray]:
    return [b for b in np.array_split(np.arange(length), blocks)]


def tracker_units(dataset, boxes: dict, blocks: int, longterm: dict | None = None) -> Units:
    """``boxes``: sequence -> result rows; ``longterm``: sequence -> (overlaps, confidence, visible) of
    :func:`siamcan.evaluation.report.longterm_frames` (frames 1..n-1; the report keeps them), or None. ``blocks`` 0: one unit a sequence."""
    g, n = [], []
    for seq in dataset:
        gt, pred, index = M.one_pass_frames(seq, boxes[seq.name], dataset.exclude_absent)
        per_frame = np.zeros(len(seq.gt))
        counted = np.zeros(len(seq.gt))
        per_frame[index] = M.frame_success(M.frame_ious(gt, pred))
        counted[index] = 1.0
        cuts = _cut(len(seq.gt), max(blocks, 1))
        g.append(np.array([per_frame[c].sum() for c in cuts]))
        n.append(np.array([counted[c].sum() for c in cuts]))
    units = Units(g, n)
    if longterm:
        conf = np.concatenate([np.asarray(c, float) for _, c, _ in longterm.values()])
        thresholds = determine_thresholds(conf)
        units.s, units.r, units.v = [], [], []
        for seq in dataset:
            o, c, vis = (np.asarray(a, float) for a in longterm[seq.name])
            o = np.nan_to_num(o)
            with np.errstate(invalid="ignore"):
                reported = c[None, :] >= thresholds[:, None]  # thresholds x frames (NaN: never reported)
            # the same blocks of frames as the AUC's: frame k of the sequence is entry k - 1 here
            cuts = [c[c > 0] - 1 for c in _cut(len(o) + 1, max(blocks, 1))]
            units.s.append(np.array([(reported[:, k] * o[k]).sum(axis=1) for k in cuts]))  # units x thresholds
            units.r.append(np.array([reported[:, k].sum(axis=1) for k in cuts], dtype=float))
            units.v.append(np.array([vis[k].sum() for k in cuts], dtype=float))
    return units


def draws(units_per_sequence: list[int], samples: int, blocks: int, seed: int = 0) -> list[np.ndarray]:
    """Multiplicities of the units in each resample, the same for every tracker (paired): by sequence, one
    ``samples x sequences`` matrix; by block, one ``samples x blocks`` matrix per sequence."""
    rng = np.random.default_rng(seed)
    if not blocks:
        k = len(units_per_sequence)
        idx = rng.integers(0, k, size=(samples, k))
        return [_counts(idx, k)]
    return [_counts(rng.integers(0, b, size=(samples, b)), b) for b in units_per_sequence]


def _counts(idx: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((idx.shape[0], k))
    np.add.at(out, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), 1.0)
    return out


def resampled_scores(units: Units, weights: list[np.ndarray], blocks: int) -> dict[str, np.ndarray]:
    """The tracker's score in each resample (``samples`` values), and its score on the data as it is (last)."""
    if not blocks:  # per-sequence scores, resampled as whole sequences
        w = weights[0]
        w = np.vstack([w, np.ones(w.shape[1])])  # the data as it is: every sequence once
        auc = np.array([gi.sum() / max(ni.sum(), 1.0) for gi, ni in zip(units.g, units.n)])
        out = {"auc": w @ auc / w.shape[1]}
        if units.s is not None:
            prec = np.array([np.where(r[0] > 0, s[0] / np.maximum(r[0], 1), 1.0) for s, r in zip(units.s, units.r)])
            rec = np.array([s[0] / max(v[0], 1.0) for s, v in zip(units.s, units.v)])
            out["fscore"] = f_curve(w @ prec / w.shape[1], w @ rec / w.shape[1]).max(axis=1)
        return out
    aucs, precs, recs = [], [], []
    for i, w in enumerate(weights):
        w = np.vstack([w, np.ones(w.shape[1])])
        aucs.append((w @ units.g[i]) / np.maximum(w @ units.n[i], 1.0))
        if units.s is not None:
            s, r = w @ units.s[i], w @ units.r[i]  # samples x thresholds
            precs.append(np.where(r > 0, s / np.maximum(r, 1), 1.0))
            recs.append(s / np.maximum(w @ units.v[i], 1.0)[:, None])
    out = {"auc": np.mean(aucs, axis=0)}
    if units.s is not None:
        out["fscore"] = f_curve(np.mean(precs, axis=0), np.mean(recs, axis=0)).max(axis=1)
    return out


def compare(report: dict, baseline: str, samples: int = 10000, blocks: int = 0, seed: int = 0,
            level: float = 0.95) -> dict:
    """Every tracker of ``report`` (from :func:`siamcan.evaluation.report.score_trackers`) against ``baseline``:
    per measure, the difference of the scores (tracker - baseline), its percentile interval over ``samples``
    paired resamples, and the share of resamples where the tracker is ahead."""
    trackers = list(report["trackers"])
    if baseline not in trackers:
        raise SiamcanError(f"--versus {baseline}: no such tracker in the results (have {', '.join(trackers)})")
    if len(trackers) < 2:
        raise SiamcanError("--versus needs at least one other tracker to compare")
    if "_dataset" not in report or report["_dataset"].supervised:
        raise SiamcanError("--versus is for one-pass datasets (success AUC); not for VOT")
    if blocks < 0 or samples < 1:
        raise SiamcanError(f"--blocks must be >= 0 and the resamples >= 1, got {blocks} and {samples}")
    dataset = report["_dataset"]
    seqs = list(dataset)
    if not blocks and len(seqs) < 2:
        raise SiamcanError(f"a paired bootstrap over sequences needs at least 2 sequences, have {len(seqs)}; "
                           "resample blocks of frames instead (--blocks N)")
    shortest = min(len(s.gt) - 1 for s in seqs)  # the long-term frames leave the init frame out
    if blocks and blocks > shortest:
        raise SiamcanError(f"--blocks {blocks}: the shortest sequence has only {shortest + 1} frames")
    per_seq = [blocks] * len(seqs) if blocks else [1] * len(seqs)
    if samples * (sum(per_seq) if blocks else len(seqs)) > MAX_DRAWS:
        raise SiamcanError(f"{samples} resamples of {sum(per_seq) if blocks else len(seqs)} units is too many "
                           f"(at most {MAX_DRAWS:,} draws in all)")
    longterm = bool(report.get("_longterm"))
    weights = draws(per_seq, samples, blocks, seed)
    scores = {}
    for name in trackers:
        lt = report["_longterm_frames"][name] if longterm else None
        scores[name] = resampled_scores(tracker_units(dataset, report["_boxes"][name], blocks, lt), weights, blocks)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out = {"baseline": baseline, "samples": samples, "level": level, "seed": seed,
           "unit": f"{blocks} blocks of each sequence" if blocks else f"{len(seqs)} sequences",
           "sequences": len(seqs), "blocks": blocks, "scores": {}, "trackers": {}}
    for name in trackers:
        out["scores"][name] = {m: {"score": float(v[-1]), "ci": [float(x) for x in np.percentile(v[:-1], q)]}
                               for m, v in scores[name].items()}
    for name in trackers:
        if name == baseline:
            continue
        row = {}
        for measure, values in scores[name].items():
            base = scores[baseline][measure]
            d = values[:-1] - base[:-1]
            lo, hi = np.percentile(d, q)
            row[measure] = {"score": float(values[-1]), "baseline": float(base[-1]),
                            "difference": float(values[-1] - base[-1]), "ci": [float(lo), float(hi)],
                            "ahead": float((d > 0).mean())}
        out["trackers"][name] = row
    return out


def format_compare(cmp: dict) -> str:
    pct = f"{cmp['level'] * 100:.0f}%"
    lines = [f"paired comparison with {cmp['baseline']} ({cmp['samples']} resamples of the {cmp['unit']}, "
             f"{pct} intervals; 'ahead': share of resamples where the tracker scores higher):"]
    names = {"auc": "success AUC", "fscore": "VOT-LT F"}
    for name, row in sorted(cmp["scores"].items(), key=lambda kv: -kv[1]["auc"]["score"]):
        lines.append(f"  {name:<24} " + "   ".join(
            f"{names[m]} {r['score']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]" for m, r in row.items()))
    for name, row in cmp["trackers"].items():
        for measure, r in row.items():
            lo, hi = r["ci"]
            lines.append(f"  {name} - {cmp['baseline']}  {names[measure]:<11} {r['score']:.3f} - {r['baseline']:.3f}"
                         f" = {r['difference']:+.3f}  [{lo:+.3f}, {hi:+.3f}], ahead in {r['ahead'] * 100:.1f}%")
    return "\n".join(lines)

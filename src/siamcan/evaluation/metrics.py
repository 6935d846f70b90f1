"""Benchmark metrics exactly as SPEC §5 (pysot toolkit): one-pass success / precision / normalised precision and
VOT accuracy / robustness / EAO."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .datasets import Dataset, Sequence
from .geometry import box_centers, box_iou, region_overlap, region_overlaps_raster

SUCCESS_THRESHOLDS = np.arange(0, 1.05, 0.05)        # 21 IoU thresholds
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=float)  # pixels; reported at 20
NORM_PRECISION_THRESHOLDS = np.arange(0, 51) / 100    # reported at 0.2
EAO_RANGES = {"VOT2016": (108, 371), "VOT2017": (100, 356), "VOT2018": (100, 356), "VOT2019": (46, 291)}
BURNIN = 10
SKIPPING = 5
RASTER_CHUNK = 128  # frames rasterised together (bounds memory)

Trajectory = list[list[float]]  # VOT result: [1] init, [2] failure, [0] skipped, else x,y,w,h (or a polygon)


# ----------------------------------------------------------------------------- one-pass
def _aligned(pred: np.ndarray, n: int) -> np.ndarray:
    """Result rows for ``n`` frames: missing trailing rows become NaN (= failure), extra rows are dropped."""
    pred = np.asarray(pred, dtype=float).reshape(-1, 4)[:n]
    if len(pred) < n:
        pred = np.vstack([pred, np.full((n - len(pred), 4), np.nan)])
    return pred


def frame_ious(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU per frame for the success curve: -1 where the ground truth is invalid (w/h <= 0, NaN) or the box NaN."""
    n = len(gt)
    pred = _aligned(pred, n)
    iou = np.full(n, -1.0)
    valid = (gt[:, 2] > 0) & (gt[:, 3] > 0)
    iou[valid] = box_iou(gt[valid], pred[valid])
    return np.nan_to_num(iou, nan=-1.0)


def success_curve(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Fraction of frames with IoU > t for the 21 thresholds; invalid ground truth (w/h <= 0, NaN) fails."""
    n = len(gt)
    if n == 0:
        return np.zeros(len(SUCCESS_THRESHOLDS))
    return (frame_ious(gt, pred)[None, :] > SUCCESS_THRESHOLDS[:, None]).sum(axis=1) / n


def frame_success(iou: np.ndarray) -> np.ndarray:
    """Each frame's share of the success AUC: the fraction of the 21 thresholds its IoU exceeds. The mean over a
    sequence's frames is its success AUC (the AUC is linear in the frames), so blocks of frames can be pooled."""
    return (np.asarray(iou)[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=1)


def _distance_curve(gt_c: np.ndarray, pred_c: np.ndarray, valid: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    n = len(gt_c)
    if n == 0:
        return np.zeros(len(thresholds))
    dist = np.full(n, np.inf)
    dist[valid] = np.sqrt(((gt_c[valid] - pred_c[valid]) ** 2).sum(axis=1))
    dist = np.nan_to_num(dist, nan=np.inf)
    return (dist[None, :] <= thresholds[:, None]).sum(axis=1) / n


def precision_curve(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Fraction of frames with centre distance <= t px (t = 0..50); invalid ground truth fails."""
    pred = _aligned(pred, len(gt))
    valid = (gt[:, 2] > 0) & (gt[:, 3] > 0)
    return _distance_curve(box_centers(gt), box_centers(pred), valid, PRECISION_THRESHOLDS)


def norm_precision_curve(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Centre distance with offsets divided by the ground-truth (w, h); thresholds 0..0.5."""
    pred = _aligned(pred, len(gt))
    valid = (gt[:, 2] > 0) & (gt[:, 3] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = box_centers(gt) / gt[:, 2:4]
        p = box_centers(pred) / gt[:, 2:4]
    return _distance_curve(g, p, valid, NORM_PRECISION_THRESHOLDS)


@dataclass
class OPEScore:
    """One sequence's one-pass curves."""

    name: str
    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    attributes: list[str] = field(default_factory=list)

    @property
    def auc(self) -> float:
        return float(self.success.mean())


def one_pass_frames(seq: Sequence, pred: np.ndarray, exclude_absent: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frames a one-pass score counts: ground truth, boxes and their frame indices (with ``exclude_absent``
    frames flagged absent are left out, as LaSOT does)."""
    gt = seq.gt
    pred = _aligned(pred, len(gt))
    index = np.arange(len(gt))
    if exclude_absent and seq.absent is not None:
        keep = ~seq.absent
        gt, pred, index = gt[keep], pred[keep], index[keep]
    return gt, pred, index


def score_one_pass(seq: Sequence, pred: np.ndarray, exclude_absent: bool = False) -> OPEScore:
    """Curves of one sequence; with ``exclude_absent`` frames flagged absent are left out (LaSOT)."""
    gt, pred, _ = one_pass_frames(seq, pred, exclude_absent)
    return OPEScore(seq.name, success_curve(gt, pred), precision_curve(gt, pred), norm_precision_curve(gt, pred),
                    list(seq.attributes))


def summarize_one_pass(scores: list[OPEScore]) -> dict:
    """Dataset means: ``success_auc``, ``precision`` (@20 px), ``norm_precision`` (@0.2), ``sequences``."""
    if not scores:
        return {"success_auc": float("nan"), "precision": float("nan"), "norm_precision": float("nan"),
                "sequences": 0}
    return {
        "success_auc": float(np.mean([s.success for s in scores])),
        "precision": float(np.mean([s.precision[20] for s in scores])),
        "norm_precision": float(np.mean([s.norm_precision[20] for s in scores])),
        "sequences": len(scores),
    }


def per_attribute(scores: list[OPEScore]) -> dict[str, dict]:
    """:func:`summarize_one_pass` over the sequences carrying each attribute."""
    names = sorted({a for s in scores for a in s.attributes})
    return {a: summarize_one_pass([s for s in scores if a in s.attributes]) for a in names}


# ----------------------------------------------------------------------------- VOT
def is_code(row: list[float], code: int) -> bool:
    return len(row) == 1 and row[0] == code


def vot_failures(traj: Trajectory) -> list[int]:
    """Frame indices of failures (code 2)."""
    return [i for i, r in enumerate(traj) if is_code(r, 2)]


def vot_overlaps(traj: Trajectory, gt: np.ndarray, bounds: tuple[float, float] | None, burnin: int = 0,
                 method: str = "raster") -> np.ndarray:
    """Per-frame overlap (NaN on code frames and, with ``burnin``, on the ``burnin`` frames from each init).

    ``method="raster"`` counts pixels like the VOT toolkit / pysot (what published numbers used);
    ``"exact"`` uses exact polygon areas (:func:`region_overlap`)."""
    n = min(len(traj), len(gt))
    out = np.full(n, np.nan)
    masked = np.zeros(n, bool)
    if burnin:
        for i in range(n):
            if is_code(traj[i], 1):
                masked[i:i + burnin] = True
    todo = [i for i in range(n) if not masked[i] and len(traj[i]) > 1]
    if method == "exact":
        for i in todo:
            out[i] = region_overlap(traj[i], gt[i], bounds)
        return out
    if method != "raster":
        raise ValueError(f"unknown overlap method {method!r} (raster, exact)")
    for width in sorted({len(traj[i]) for i in todo}):
        idx = [i for i in todo if len(traj[i]) == width]
        for start in range(0, len(idx), RASTER_CHUNK):
            chunk = idx[start:start + RASTER_CHUNK]
            out[chunk] = region_overlaps_raster(np.array([traj[i] for i in chunk]), gt[chunk], bounds)
    return out


@dataclass
class VOTScore:
    """One sequence's supervised-run statistics."""

    name: str
    overlaps: np.ndarray          # accuracy overlaps (burn-in masked, bounds W x H)
    failures: list[int]
    eao_overlaps: np.ndarray      # EAO overlaps (no burn-in, bounds (W-1) x (H-1), as pysot)
    length: int
    tags: dict[str, np.ndarray] = field(default_factory=dict)


def score_vot(seq: Sequence, traj: Trajectory, method: str = "raster") -> VOTScore:
    """Accuracy overlaps with bounds (W, H) and burn-in, EAO overlaps with bounds (W-1, H-1) and none (pysot's
    ``ar_benchmark`` / ``eao_benchmark``)."""
    w, h = seq.size()
    return VOTScore(seq.name, vot_overlaps(traj, seq.gt, (w, h), BURNIN, method), vot_failures(traj),
                    vot_overlaps(traj, seq.gt, (w - 1, h - 1), 0, method), len(seq.gt), seq.tags)


def expected_overlaps(fragments: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Expected-overlap curve Φ: Φ[0] = 1; Φ[i] = weighted mean over fragments still running at ``i`` of their
    mean overlap over frames 1..i (failed fragments are zero-padded, so they run to the end)."""
    n_frag, max_len = fragments.shape
    phi = np.zeros(max_len)
    phi[0] = 1.0
    running = ~np.isnan(fragments)
    cums = np.nancumsum(np.where(running, fragments, 0.0)[:, 1:], axis=1) if max_len > 1 else None
    for i in range(1, max_len):
        mask = running[:, i]
        if mask.any():
            seq_mean = cums[mask, i - 1] / i
            phi[i] = np.sum(seq_mean * weights[mask]) / np.sum(weights[mask])
    return phi


def eao_fragments(scores: list[VOTScore], tag: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fragments (rows, NaN after a successful fragment's end) and their weights, pysot's construction: a
    sequence is cut at every re-initialisation (failure + 5); failed fragments are padded with zeros."""
    max_len = max(len(s.eao_overlaps) for s in scores)
    rows, weights = [], []
    for s in scores:
        ov = np.nan_to_num(s.eao_overlaps, nan=0.0)
        flags = s.tags.get(tag) if tag else None
        points = [0] + [f + SKIPPING for f in s.failures if f + SKIPPING <= len(ov)]
        if len(points) == 1:  # no failure: NaN on the init frame is kept (column 0 is never used)
            row = np.full(max_len, np.nan)
            row[:len(ov)] = s.eao_overlaps
            rows.append(row)
            weights.append(1.0 if flags is None else float(np.mean(flags[:len(ov)])))
            continue
        for k, start in enumerate(points):
            last = k == len(points) - 1
            row = np.full(max_len, np.nan) if last else np.zeros(max_len)
            frag = ov[start:] if last else ov[start:points[k + 1] + 1]
            row[:len(frag)] = frag
            rows.append(row)
            if flags is None:
                weights.append(1.0)
            else:
                end = len(ov) if last else points[k + 1] + 1
                weights.append(float(np.sum(flags[start:end])) / max(1, end - start))
    return np.array(rows), np.array(weights)


def eao(scores: list[VOTScore], low: int, high: int, tag: str | None = None) -> float:
    """Mean of the expected-overlap curve over ``[low, high]`` (1-based sequence lengths, pysot indexing)."""
    fragments, weights = eao_fragments(scores, tag)
    if tag is not None and not weights.any():
        return float("nan")
    phi = expected_overlaps(fragments, weights)
    sel = phi[low - 1:high]
    return float(np.mean(sel)) if len(sel) else float("nan")


def summarize_vot(scores: list[VOTScore], year: str = "VOT2018") -> dict:
    """``eao``, ``accuracy`` (pooled over all frames), ``robustness`` (failures / frames × 100), ``failures``,
    ``sequences``."""
    if year not in EAO_RANGES:
        raise ValueError(f"unknown VOT year {year} (have {', '.join(EAO_RANGES)})")
    if not scores:
        return {"eao": float("nan"), "accuracy": float("nan"), "robustness": float("nan"), "failures": 0,
                "sequences": 0}
    low, high = EAO_RANGES[year]
    all_ov = np.concatenate([s.overlaps for s in scores])
    frames = sum(len(s.overlaps) for s in scores)
    failures = sum(len(s.failures) for s in scores)
    return {
        "eao": eao(scores, low, high),
        "accuracy": float(np.nanmean(all_ov)) if np.isfinite(all_ov).any() else float("nan"),
        "robustness": failures / frames * 100 if frames else float("nan"),
        "failures": int(failures),
        "sequences": len(scores),
    }


def vot_per_tag(scores: list[VOTScore], year: str = "VOT2018") -> dict[str, float]:
    """EAO per VOT frame tag (fragments weighted by the fraction of tagged frames, as pysot)."""
    low, high = EAO_RANGES[year]
    names = sorted({t for s in scores for t in s.tags})
    return {t: eao(scores, low, high, t) for t in names}


def score_dataset_one_pass(dataset: Dataset, results: dict[str, np.ndarray]) -> list[OPEScore]:
    """Score every scorable sequence; a sequence without a result file scores as all failures."""
    out = []
    for seq in dataset:
        if not seq.scorable:
            continue
        pred = results.get(seq.name, np.zeros((0, 4)))
        out.append(score_one_pass(seq, pred, dataset.exclude_absent))
    return out

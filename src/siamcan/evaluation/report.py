"""Scores of several trackers' result files on one dataset: JSON-ready summaries, a text table and plots."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from . import metrics as M
from .datasets import Dataset
from .results import list_trackers, load_results


def vot_year(dataset: Dataset, year: str | None) -> str:
    """The EAO range key: ``--vot-year`` (2016 / VOT2016 ...) or the year in the dataset name, else VOT2018."""
    if year:
        key = year if str(year).upper().startswith("VOT") else f"VOT{year}"
        if key.upper() not in M.EAO_RANGES:
            raise SiamcanError(f"unknown --vot-year {year} (have {', '.join(M.EAO_RANGES)})")
        return key.upper()
    return next((k for k in M.EAO_RANGES if k.lower() in dataset.name.lower()), "VOT2018")


def score_trackers(dataset: Dataset, results: Path, trackers: list[str] | None = None,
                   year: str | None = None) -> dict:
    """``{"dataset", "trackers": {name: summary}}`` plus, under ``"_curves"`` / ``"_attributes"``, the
    per-tracker mean curves and per-attribute breakdowns (removed before writing the JSON).

    A sequence without a result file is never scored as a failure: the means are over the sequences that every
    compared tracker has a result for, and the others are listed under ``"missing"`` (tracker -> sequence names).
    Trackers found in the folder (``trackers`` None) with no result file for any of the sequences are left out and
    listed under ``"unscored"`` (a results folder shared by two datasets of the same folder name holds the trackers of
    both); a tracker named in ``trackers`` without any is an error."""
    names = trackers or list_trackers(results, dataset.name)
    out: dict = {"dataset": dataset.name, "trackers": {}, "_curves": {}, "_attributes": {}, "_sequences": {},
                 "_longterm": {}, "_longterm_frames": {}}
    loaded = {}
    for name in names:
        loaded[name] = load_results(results, dataset, name)
        if not loaded[name] and trackers:
            raise SiamcanError(f"tracker '{name}' has no result file for any sequence of {dataset.name}")
    unscored = [n for n in names if not loaded[n]]
    if len(unscored) == len(names):
        raise SiamcanError(f"no tracker in {results} has a result file for any sequence of {dataset.name} "
                           f"({', '.join(names)}): run siamcan eval on it first")
    if unscored:
        out["unscored"] = unscored
        names = [n for n in names if loaded[n]]
    candidates = [s for s in dataset if s.scorable or dataset.supervised]
    missing = {n: [s.name for s in candidates if s.name not in loaded[n]] for n in names}
    missing = {n: m for n, m in missing.items() if m}
    common = [s for s in candidates if all(s.name in loaded[n] for n in names)]
    if not common:
        raise SiamcanError(f"no sequence of {dataset.name} has a result file from every tracker "
                           f"({', '.join(names)}); compare fewer trackers (--trackers) or run siamcan eval")
    if missing:
        out["missing"] = missing
        out["compared"] = {"sequences": len(common), "of": len(candidates)}
    dataset = Dataset(dataset.name, common, dataset.supervised, dataset.exclude_absent)
    out["_dataset"], out["_boxes"] = dataset, loaded
    for name in names:
        res = loaded[name]
        if dataset.supervised:
            key = vot_year(dataset, year)
            scores = [M.score_vot(s, res[s.name]) for s in dataset]
            out["trackers"][name] = M.summarize_vot(scores, key)
            out["_attributes"][name] = M.vot_per_tag(scores, key)
        else:
            scores = M.score_dataset_one_pass(dataset, res)
            out["trackers"][name] = M.summarize_one_pass(scores)
            out["_curves"][name] = (np.mean([s.success for s in scores], axis=0),
                                    np.mean([s.precision for s in scores], axis=0))
            out["_attributes"][name] = M.per_attribute(scores)
            out["_sequences"][name] = {sc.name: sc.auc for sc in scores}
            if has_absent_frames(dataset):
                frames, constant = longterm_frames(dataset, results, name, res)
                lt, per = longterm(frames, constant)
                out["trackers"][name]["longterm"] = lt
                out["_longterm"][name] = per
                out["_longterm_frames"][name] = frames  # what --versus resamples
    return out


def has_absent_frames(dataset: Dataset) -> bool:
    """Does the ground truth mark frames where the target is absent (``nan`` rows, absent flags)?"""
    return any((s.absent is not None and s.absent[1:].any()) or not np.isfinite(s.gt[1:]).all() for s in dataset)


def longterm(data: dict, constant: int) -> tuple[dict, dict]:
    """VOT long-term precision / recall / F-score of one tracker (:mod:`.longterm`) from its frames
    (:func:`longterm_frames`: overlaps, confidences, visibility per sequence); ``constant`` sequences had no
    confidence file (every frame reported), which the summary says."""
    from .longterm import longterm_scores

    if not data:
        return {}, {}
    lt = longterm_scores(data)
    summary = {"precision": lt.precision, "recall": lt.recall, "fscore": lt.fscore, "threshold": lt.threshold,
               "sequences_without_confidence": constant}
    return summary, lt.per_sequence


def longterm_frames(dataset: Dataset, results: Path, tracker: str, boxes: dict
                    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
    """Per sequence, the frames the long-term measures count (the init frame left out): overlaps (0 where the
    target is absent), the tracker's confidence (from ``<seq>_confidence.value``; constant 1 where there is no such
    file) and visibility; and how many sequences had no confidence file."""
    from ..geometry import box_iou
    from .results import confidence_path, read_confidence, result_file, tracker_root

    root = tracker_root(results, dataset.name) / tracker
    data, constant = {}, 0
    for s in dataset:
        gt = s.gt[:, :4] if s.gt.shape[1] == 4 else None
        if gt is None:
            continue
        pred = M._aligned(boxes[s.name], len(gt))
        visible = np.isfinite(gt).all(axis=1)
        if s.absent is not None:
            visible &= ~s.absent
        overlaps = np.where(visible, np.nan_to_num(box_iou(pred, np.nan_to_num(gt))), 0.0)
        f = result_file(root, dataset, s)
        conf = read_confidence(confidence_path(f), len(gt)) if f is not None else None
        if conf is None:
            conf, constant = np.ones(len(gt)), constant + 1
        data[s.name] = (overlaps[1:], conf[1:], visible[1:])
    return data, constant


def format_longterm(report: dict) -> str:
    """The long-term table (tracking precision, recall, F-score at the best threshold) and per-sequence F-scores."""
    rows = {n: r["longterm"] for n, r in report["trackers"].items() if r.get("longterm")}
    if not rows:
        return ""
    head = f"{'tracker':<24} {'F':>7} {'Pr':>7} {'Re':>7} {'tau':>7}"
    lines = ["long-term measures (VOT-LT; the ground truth marks absent frames): F-score, tracking precision and "
             "recall at the best confidence threshold tau", head, "-" * len(head)]
    for n in sorted(rows, key=lambda k: -rows[k]["fscore"]):
        r = rows[n]
        note = (f"  ({r['sequences_without_confidence']} sequence(s) without a confidence file: constant)"
                if r["sequences_without_confidence"] else "")
        lines.append(f"{n:<24} {r['fscore']:7.3f} {r['precision']:7.3f} {r['recall']:7.3f} {r['threshold']:7.3f}"
                     f"{note}")
    per = report.get("_longterm", {})
    seqs = sorted({q for v in per.values() for q in v})
    if seqs:
        lines.append("per-sequence F-score: " + "; ".join(
            f"{q}: " + ", ".join(f"{n} {per[n][q]['fscore']:.3f}" for n in rows if q in per.get(n, {})) for q in seqs))
    return "\n".join(lines)


def bootstrap_auc(per_sequence: dict[str, dict[str, float]], samples: int = 10000, seed: int = 0,
                  level: float = 0.95) -> dict[str, dict]:
    """How much the mean success AUC depends on which sequences happen to be in the set.

    Sequences are resampled with replacement (``samples`` times, one seeded draw shared by all trackers, so the
    differences are paired). Per tracker: the percentile interval of its mean AUC; per pair of trackers
    ``A - B``: the interval of the difference and the share of draws where A is ahead. Only sequences that every
    tracker has are used.
    """
    names = list(per_sequence)
    common = sorted(set.intersection(*(set(per_sequence[n]) for n in names))) if names else []
    if len(common) < 2:
        raise SiamcanError(f"--bootstrap needs at least 2 sequences scored for every tracker, have {len(common)}")
    auc = np.array([[per_sequence[n][s] for s in common] for n in names])  # trackers x sequences
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(common), size=(samples, len(common)))
    means = auc[:, idx].mean(axis=2)  # trackers x samples
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out: dict[str, dict] = {}
    for i, n in enumerate(names):
        lo, hi = np.percentile(means[i], q)
        row = {"success_auc": float(auc[i].mean()), "ci": [float(lo), float(hi)], "vs": {}}
        for j, m in enumerate(names):
            if i != j:
                d = means[i] - means[j]
                dlo, dhi = np.percentile(d, q)
                row["vs"][m] = {"difference": float(auc[i].mean() - auc[j].mean()), "ci": [float(dlo), float(dhi)],
                                "ahead": float((d > 0).mean())}
        out[n] = row
    return {"sequences": len(common), "samples": samples, "level": level, "trackers": out}


def format_per_sequence(report: dict) -> str:
    """Success AUC per sequence (rows) and tracker (columns)."""
    per = report["_sequences"]
    if not per:
        raise SiamcanError("--per-sequence needs one-pass results; VOT reports failures per sequence in EAO")
    names = sorted(per, key=lambda n: -report["trackers"][n]["success_auc"])
    seqs = sorted(set().union(*(per[n] for n in names)))
    w = max(12, *(len(n) for n in names))
    sw = max(8, *(len(x) for x in seqs))
    lines = [f"{'sequence':<{sw}} " + " ".join(f"{n:>{w}}" for n in names)]
    for x in seqs:
        lines.append(f"{x:<{sw}} " + " ".join(f"{per[n][x]:>{w}.3f}" if x in per[n] else f"{'-':>{w}}"
                                                 for n in names))
    return "\n".join(lines)


def format_bootstrap(boot: dict) -> str:
    """The intervals of :func:`bootstrap_auc` as text, best first."""
    rows = boot["trackers"]
    names = sorted(rows, key=lambda n: -rows[n]["success_auc"])
    pct = f"{boot['level'] * 100:.0f}%"
    lines = [f"success AUC with {pct} intervals over {boot['samples']} resamplings of the {boot['sequences']} "
             "sequences:"]
    for n in names:
        lo, hi = rows[n]["ci"]
        lines.append(f"  {n:<24} {rows[n]['success_auc']:.3f}  [{lo:.3f}, {hi:.3f}]")
    for a, b in zip(names, names[1:]):
        v = rows[a]["vs"][b]
        lo, hi = v["ci"]
        lines.append(f"  {a} - {b}: {v['difference']:+.3f}  [{lo:+.3f}, {hi:+.3f}], ahead in "
                     f"{v['ahead'] * 100:.0f}% of the resamplings")
    return "\n".join(lines)


def public(report: dict) -> dict:
    """The report without its private (underscore) entries, as written to ``--json``; undefined values (e.g.
    accuracy when every tracked frame is inside a burn-in) become ``None`` (JSON ``null``)."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return None if isinstance(v, float) and not np.isfinite(v) else v

    return clean({k: v for k, v in report.items() if not k.startswith("_")})


def format_table(report: dict, supervised: bool) -> str:
    """A fixed-width text table, best first."""
    rows = report["trackers"]
    if supervised:
        head = f"{'tracker':<24} {'EAO':>7} {'A':>7} {'R':>7} {'fail':>6} {'seqs':>5}"
        order = sorted(rows, key=lambda n: -np.nan_to_num(rows[n]["eao"], nan=-1))
        lines = [f"{n:<24} {rows[n]['eao']:7.3f} {rows[n]['accuracy']:7.3f} {rows[n]['robustness']:7.3f} "
                 f"{rows[n]['failures']:6d} {rows[n]['sequences']:5d}" for n in order]
    else:
        head = f"{'tracker':<24} {'AUC':>7} {'P@20':>7} {'NP@0.2':>7} {'seqs':>5}"
        order = sorted(rows, key=lambda n: -rows[n]["success_auc"])
        lines = [f"{n:<24} {rows[n]['success_auc']:7.3f} {rows[n]['precision']:7.3f} "
                 f"{rows[n]['norm_precision']:7.3f} {rows[n]['sequences']:5d}" for n in order]
    title = f"{report['dataset']}"
    notes = []
    if report.get("missing"):
        c = report["compared"]
        title += (f": means over the {c['sequences']} of {c['of']} sequences that every tracker has a result for "
                  "(missing result files below)")
        for name, seqs in report["missing"].items():
            shown = ", ".join(seqs[:10]) + (f", ... ({len(seqs)} in all)" if len(seqs) > 10 else "")
            notes.append(f"missing: {name} has no result file for {shown}")
    if report.get("unscored"):
        notes.append(f"left out: {', '.join(report['unscored'])} (no result file for any of the sequences scored)")
    return "\n".join([title, head, "-" * len(head), *lines, *notes])


def check_plot_path(path: Path) -> None:
    """A plot file name whose extension matplotlib can write (png, pdf, svg, ...), else a one-line error."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    kinds = FigureCanvasAgg.get_supported_filetypes()
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in kinds:
        raise SiamcanError(f"--plot {path}: cannot write a '{ext or 'no extension'}' image "
                           f"(use one of {', '.join(sorted(kinds))})")
    if Path(path).is_dir():
        raise SiamcanError(f"--plot {path} is a folder, expected a file name like plot.png")


def plot_curves(report: dict, path: Path) -> None:
    """Success and precision plots side by side (OTB-paper style, legend with AUC / P@20, best first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_plot_path(path)
    curves = report["_curves"]
    if not curves:
        raise SiamcanError("--plot needs one-pass results (success / precision curves); VOT has none")
    fig, (ax_s, ax_p) = plt.subplots(1, 2, figsize=(12, 5))
    rows = report["trackers"]
    for name in sorted(curves, key=lambda n: -rows[n]["success_auc"]):
        ax_s.plot(M.SUCCESS_THRESHOLDS, curves[name][0], lw=2, label=f"{name} [{rows[name]['success_auc']:.3f}]")
    for name in sorted(curves, key=lambda n: -rows[n]["precision"]):
        ax_p.plot(M.PRECISION_THRESHOLDS, curves[name][1], lw=2, label=f"{name} [{rows[name]['precision']:.3f}]")
    ax_s.set(title=f"Success plots of OPE on {report['dataset']}", xlabel="Overlap threshold",
             ylabel="Success rate", xlim=(0, 1), ylim=(0, 1.02))
    ax_p.set(title=f"Precision plots of OPE on {report['dataset']}", xlabel="Location error threshold (px)",
             ylabel="Precision", xlim=(0, 50), ylim=(0, 1.02))
    ax_p.axvline(20, color="0.6", ls=":", lw=1)
    for ax in (ax_s, ax_p):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left" if ax is ax_s else "lower right", fontsize=9)
    fig.tight_layout()
    from ..fileio import atomic_output

    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".").lower() or "png")
    plt.close(fig)

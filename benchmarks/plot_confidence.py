"""Confidence over time on one sequence (issue 25): the confidence an eval reported per frame
(``<seq>_confidence.value``), the frames where the tracker considered the target lost (replayed from those
confidences with the model config's thresholds: ``siamcan.tracking.redetect.lost_states``), lost / found events,
the frames where the ground truth marks the target absent (shaded) and the overlap of the box with the ground truth.

    siamcan eval ../runs/val-lt --format otb --results results/val-lt --threads 1       # the default model
    python benchmarks/plot_confidence.py ../runs/val-lt yamaha --results results/val-lt --tracker siamcan-nano \
        --out docs/img/yamaha-confidence.png [--frames 300 700] [--redetect: the run used --redetect]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", help="OTB-layout folder")
    p.add_argument("sequence")
    p.add_argument("--results", required=True, help="results folder of siamcan eval (DIR or DIR/<dataset>)")
    p.add_argument("--tracker", default="siamcan-nano", help="tracker name in the results folder")
    p.add_argument("--model", default=None, help="the config the results were made with (for the lost thresholds; "
                                                "default: the default model)")
    p.add_argument("--redetect", action="store_true", help="the results were made with --redetect")
    p.add_argument("--frames", nargs=2, type=int, default=None, metavar=("FIRST", "LAST"), help="a frame range")
    p.add_argument("--out", required=True, help="image file (png, pdf, svg)")
    a = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from siamcan.errors import SiamcanError
    from siamcan.evaluation.datasets import load_dataset
    from siamcan.evaluation.geometry import box_iou
    from siamcan.evaluation.results import confidence_path, read_confidence, read_one_pass, result_file, tracker_root
    from siamcan.fileio import atomic_output
    from siamcan.tracking.redetect import lost_states
    from siamcan.zoo import resolve_config

    ds = load_dataset(a.dataset, "otb").select([a.sequence])
    seq = next(iter(ds))
    folder = tracker_root(Path(a.results), ds.name) / a.tracker
    path = result_file(folder, ds, seq)
    conf = None if path is None else read_confidence(confidence_path(path), len(seq))
    if conf is None:
        raise SiamcanError(f"no result file with confidences for {seq.name} in {folder}")
    boxes = read_one_pass(path)
    cfg = resolve_config(a.model).tracker
    if a.redetect:
        cfg = dataclasses.replace(cfg, redetect=True)
    lost = lost_states(conf, cfg)
    gt = seq.boxes
    visible = ~np.isnan(gt).any(axis=1)
    n = min(len(gt), len(boxes))
    iou = np.zeros(n)
    iou[visible[:n]] = box_iou(gt[:n][visible[:n]], np.asarray(boxes, float)[:n][visible[:n]])
    first, last = a.frames if a.frames else (0, n - 1)
    t = np.arange(n)
    sel = slice(max(first, 0), min(last, n - 1) + 1)

    fig, (ax_c, ax_o) = plt.subplots(2, 1, figsize=(15, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for ax in (ax_c, ax_o):
        absent = ~visible[:n]
        starts = np.flatnonzero(absent & ~np.r_[False, absent[:-1]])
        ends = np.flatnonzero(absent & ~np.r_[absent[1:], False])
        for k, (s, e) in enumerate(zip(starts, ends)):
            ax.axvspan(s - 0.5, e + 0.5, color="0.80", lw=0, label="target absent (ground truth)" if k == 0 else None)
    ax_c.plot(t[sel], conf[sel], color="tab:blue", lw=0.8, label="confidence")
    ax_c.axhline(cfg.lost_threshold, color="tab:red", ls=":", lw=1, label=f"lost below {cfg.lost_threshold:g}")
    if cfg.redetect:
        ax_c.axhline(cfg.found_threshold, color="tab:green", ls=":", lw=1, label=f"found at {cfg.found_threshold:g}")
    on = np.flatnonzero(lost & ~np.r_[False, lost[:-1]])
    off = np.flatnonzero(~lost & np.r_[False, lost[:-1]])
    in_range = lambda idx: idx[(idx >= sel.start) & (idx < sel.stop)]  # noqa: E731
    low = min(float(np.nanmin(conf[sel])), cfg.lost_threshold) - 0.03
    ax_c.plot(in_range(on), np.full(len(in_range(on)), low + 0.01), "v", color="tab:red", ms=5, label="lost")
    ax_c.plot(in_range(off), np.full(len(in_range(off)), low + 0.01), "^", color="tab:green", ms=5, label="found")
    ax_c.set(ylabel="confidence", ylim=(low, 1.01), title=f"{a.tracker} on {seq.name}: confidence, lost / found "
             f"({int(lost.sum())} frames lost, {int((~visible[:n]).sum())} absent)")
    ax_c.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    ax_o.plot(t[sel], iou[sel], color="k", lw=0.8, label="overlap with the ground truth")
    ax_o.set(xlabel="frame", ylabel="IoU", ylim=(0, 1), xlim=(sel.start, sel.stop - 1))
    ax_o.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    fig.tight_layout()
    out = Path(a.out)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    returns = np.flatnonzero(visible[1:n] & ~visible[:n - 1]) + 1  # first visible frame after an absence
    at_once = int(np.sum(iou[returns] >= 0.3))
    print(f"{seq.name}: {n} frames, {int(lost.sum())} lost, {len(on)} lost events, {len(off)} found; the target "
          f"returns {len(returns)} times after an absence, the box is on it (IoU >= 0.3) on the first frame back "
          f"{at_once} times; plot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

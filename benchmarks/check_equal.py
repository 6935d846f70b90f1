"""Box equality of the fast path (and optionally ONNX Runtime) vs the plain eager path over whole sequences.

    python benchmarks/check_equal.py --model siamcan-r50 --sequence ../shared/data/dev/otb-format/Human3
    python benchmarks/check_equal.py --model siamcan-lite --weights-mode seeded-head --frames 300
    python benchmarks/check_equal.py --device cuda --maps --sequence ../shared/data/train/uav/group2_2

Prints, per backend, the max |box - eager box| over all frames (x, y, w, h in pixels) and how far the boxes moved.
With ``--maps``, also each backend's maps on the eager tracker's own search crops against eager's maps there (cls:
largest absolute difference; loc: largest difference relative to the largest distance): small map differences with
boxes far apart mean a near-tie flipped, not a wrong network.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from siamcan.tracking.clips import default_sequence, load_frames
    from siamcan.zoo import seeded_model
    from siamcan.evaluation.geometry import box_iou
    from siamcan.fileio import read_boxes
    from siamcan.tracking.engine import TorchEngine
    from siamcan.tracking.fast import FastEngine
    from siamcan.tracking.tracker import SiamCANTracker
    from siamcan.zoo import load_model

    p = argparse.ArgumentParser()
    p.add_argument("--model", default="siamcan-lite")
    p.add_argument("--weights-mode", default="auto", choices=["auto", "loaded", "seeded", "seeded-head"],
                   help="loaded: load_model (ImageNet backbone, untrained head); seeded: all random; "
                        "seeded-head: loaded backbone + seeded random head; auto: r50 seeded, lite loaded")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sequence", default=None)
    p.add_argument("--frames", type=int, default=100000)
    p.add_argument("--onnx", action="store_true", help="also export this model to ONNX and compare OnnxEngine")
    p.add_argument("--device", default="cpu", help="cpu or cuda (the eager and fast engines)")
    p.add_argument("--maps", action="store_true", help="also compare the maps on the eager tracker's crops")
    a = p.parse_args(argv)
    mode = a.weights_mode
    if mode == "auto":
        mode = "seeded" if "r50" in a.model else "loaded"
    if mode == "loaded":
        model, cfg = load_model(a.model)
    else:
        model, cfg = seeded_model(a.model, a.seed, keep_backbone=(mode == "seeded-head"))
    frames, box, seq = load_frames(a.sequence or default_sequence(), a.frames)
    engines = {"eager": TorchEngine(model, a.device), "fast": FastEngine(model, a.device)}
    if a.onnx:
        import tempfile

        from siamcan.tracking.export import export_onnx
        from siamcan.tracking.onnx_engine import OnnxEngine
        d = tempfile.mkdtemp(prefix="siamcan-onnx-")
        meta, _ = export_onnx(model, cfg, d)
        print("export check:", meta.get("check"))
        engines["onnx"] = OnnxEngine(d)
    trackers = {name: SiamCANTracker(e, cfg.tracker) for name, e in engines.items()}
    boxes = {name: [box] for name in engines}
    map_diff = dict.fromkeys(engines, 0.0)
    for tr in trackers.values():
        tr.init(frames[0], box)
    for f in frames[1:]:  # all trackers in lockstep (each on its own crops; independent of one another)
        if a.maps:
            x, _ = trackers["eager"].search_crop(f)
            c0, l0 = engines["eager"].track(x, trackers["eager"].state)
            for name, tr in trackers.items():
                c, loc = engines[name].track(x, tr.state)
                d = max(float(np.abs(c - c0).max()), float(np.abs(loc - l0).max() / np.abs(l0).max()))
                map_diff[name] = max(map_diff[name], d)
        for name, tr in trackers.items():
            boxes[name].append(tr.update(f)[0])
    boxes = {name: np.array(b) for name, b in boxes.items()}
    ref = boxes["eager"]
    print(f"{cfg.name} ({mode} weights), {len(frames)} frames of {seq}; eager box centre moved "
          f"{np.ptp(ref[:, :2] + ref[:, 2:] / 2, axis=0).round(1).tolist()} px, size range "
          f"{ref[:, 2:].min(0).round(1).tolist()}-{ref[:, 2:].max(0).round(1).tolist()} px")
    for name in engines:
        if name != "eager":
            d = np.abs(boxes[name] - ref).max(1)
            over = np.flatnonzero(d > 1e-3)
            first = f"first frame over 1e-3 px: {int(over[0]) + 1}" if len(over) else "never over 1e-3 px"
            print(f"  {name:<5} vs eager: max box diff {d.max():.2e} px (frame {int(d.argmax()) + 1}), "
                  f"median {np.median(d):.1e} px; {first}")
            if a.maps:
                print(f"        maps on eager's crops: max difference {map_diff[name]:.2e} (cls abs, loc rel)")
            gt_file = Path(seq) / "groundtruth_rect.txt"
            if len(over) and gt_file.is_file():
                g = read_boxes(gt_file)[over[0]]
                print(f"        eager box vs ground truth there: IoU {box_iou(ref[over[0]], g)[0]:.2f} (0 = target already lost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

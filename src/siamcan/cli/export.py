"""``siamcan export --onnx OUTDIR``: the model as two ONNX files plus a small JSON description
(:mod:`siamcan.tracking.export`)."""
from __future__ import annotations

import argparse

from ..errors import SiamcanError


def add_parser(p: argparse.ArgumentParser) -> None:
    from ..tracking.export import MAX_OPSET, OPSET

    p.add_argument("--onnx", required=True, metavar="OUTDIR", help="output folder (template.onnx, track.onnx)")
    p.add_argument("--model", default=None, help="model name (siamcan-nano, siamcan-lite, siamcan-r50) or config .yaml")
    p.add_argument("--weights", default=None, help="model weights (.safetensors or .pth)")
    p.add_argument("--random-weights", action="store_true", help="seeded random weights (for testing)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-weights")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset ({OPSET}-{MAX_OPSET}, default {OPSET})")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-PyTorch check")


def run(args: argparse.Namespace) -> int:
    from ..tracking.export import export_onnx

    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SiamcanError("ONNX export needs the 'onnx' package: pip install 'siamcan[onnx]'") from None
    check = not args.no_check
    if check:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            check = False
    if args.random_weights:
        from ..models.seeded import seeded_model

        model, cfg = seeded_model(args.model or "siamcan-lite", args.seed)
    else:
        from ..zoo import load_model

        model, cfg = load_model(args.model, args.weights)
    meta, _ = export_onnx(model, cfg, args.onnx, args.opset, check)
    msg = f"exported {cfg.name} to {args.onnx}/template.onnx and track.onnx (opset {meta['opset']})"
    if "check" in meta:
        c = meta["check"]
        msg += (f"; ONNX Runtime agrees with PyTorch: scores within {c['max_abs_diff_cls']:.1e}, boxes within "
                f"{c['max_rel_diff_loc']:.1e} of their size")
    print(msg)
    return 0

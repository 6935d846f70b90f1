"""``siamcan export --onnx OUTDIR``: the model as two ONNX files plus a small JSON description
(:mod:`siamcan.tracking.export`)."""
from __future__ import annotations

import argparse
import sys

from ..config import DEFAULT_MODEL, MAIN_MODELS
from ..errors import SiamcanError
from ..ortenv import import_onnxruntime


def add_parser(p: argparse.ArgumentParser) -> None:
    from ..tracking.export import OPSET

    p.add_argument("--onnx", required=True, metavar="OUTDIR", help="output folder (template.onnx, track.onnx)")
    p.add_argument("--model", default=None, help=f"model name ({', '.join(MAIN_MODELS)}, ...) or config .yaml")
    p.add_argument("--weights", default=None, help="model weights (.safetensors or .pth)")
    p.add_argument("--random-weights", action="store_true", help="seeded random weights (for testing)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-weights")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (17 to the newest this torch exports; "
                   f"default {OPSET})")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-PyTorch check")


def run(args: argparse.Namespace) -> int:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SiamcanError("ONNX export needs the 'onnx' package: pip install 'siamcan[onnx]'") from None
    from ..tracking.export import check_line, check_opset, export_onnx

    check_opset(args.opset)  # before the model is loaded
    check = not args.no_check
    if check:
        try:
            import_onnxruntime()
        except ImportError:
            check = False
    if args.random_weights:
        from ..zoo import seeded_model

        model, cfg = seeded_model(args.model or DEFAULT_MODEL, args.seed)
    else:
        from ..zoo import load_model

        model, cfg = load_model(args.model, args.weights)
    meta, _ = export_onnx(model, cfg, args.onnx, args.opset, check)
    print(f"exported {cfg.name} to {args.onnx}/template.onnx and track.onnx (opset {meta['opset']})")
    if "check" not in meta:
        return 0
    line, ok = check_line(meta["check"])
    print(line, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1

"""``siamcan export --onnx OUTDIR``: the model as two ONNX files plus a small JSON description.

* ``template.onnx``: ``template`` (1,3,127,127) float32 BGR 0-255 -> ``state_0 .. state_{n-1}`` (the per-target
  tensors of ``SiamCAN.template``: per level cls kernel, loc kernel, channel weights).
* ``track.onnx``: ``search`` (1,3,255,255) + ``state_*`` -> ``cls`` (1,2,25,25), ``loc`` (1,4,25,25).
* ``siamcan.json``: model name, tracker hyper-parameters, input/output names and shapes, opset.

Static shapes, batch 1 (the depth-wise correlation is one grouped Conv whose weights are a graph input), opset 17.
BatchNorm is kept as BatchNormalization nodes (not folded at export); see :mod:`siamcan.tracking.onnx_engine`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..errors import SiamcanError

OPSET = 17
CHECK_TOLERANCE = 1e-3  # onnxruntime vs PyTorch: cls logits (absolute), loc and template state (relative to range)


def max_opset() -> int:
    """The newest opset both the TorchScript exporter and the installed ``onnx`` support."""
    import onnx
    from torch.onnx import _constants

    torch_max = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", _constants.ONNX_MAX_OPSET)
    return min(int(torch_max), int(onnx.defs.onnx_opset_version()))


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--onnx", required=True, metavar="OUTDIR", help="output folder (template.onnx, track.onnx)")
    p.add_argument("--model", default=None, help="model name (siamcan-lite, siamcan-r50) or config .yaml")
    p.add_argument("--weights", default=None, help="model weights (.safetensors or .pth)")
    p.add_argument("--random-weights", action="store_true", help="seeded random weights (for testing)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-weights")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (17 to the newest this torch exports; "
                   f"default {OPSET})")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-PyTorch check")


def _set_static_shapes(path: Path, shapes: dict) -> None:
    """Write the known output shapes into the graph (the tracer leaves sliced outputs' dims symbolic)."""
    import onnx

    m = onnx.load(str(path))
    for v in m.graph.output:
        if v.name in shapes:
            dims = v.type.tensor_type.shape.dim
            del dims[:]
            for d in shapes[v.name]:
                dims.add().dim_value = int(d)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def export_onnx(model, cfg, outdir, opset: int = OPSET, check: bool = True) -> dict:
    """Export ``model`` to ``outdir``; returns the description written to ``siamcan.json``."""
    import copy
    import warnings

    import numpy as np
    import torch
    from torch import nn

    top = max_opset()
    if not 17 <= opset <= top:
        raise SiamcanError(f"--opset must be between 17 and {top} (the newest this torch and onnx export), "
                           f"got {opset}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    m = copy.deepcopy(model).cpu().float().eval()
    tc = cfg.tracker
    zs, xs = tc.exemplar_size, tc.instance_size
    centerness = bool(m.cfg.centerness)

    class Template(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, z):
            return self.net.template(z)

    class Track(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x, *state):
            o = self.net.track(x, tuple(state))
            return o[0], o[1]

    g = torch.Generator().manual_seed(0)  # smooth random images (pixel noise is far from any real crop)
    z = nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=g) * 255, size=zs, mode="bilinear")
    x = nn.functional.interpolate(torch.rand(1, 3, 32, 32, generator=g) * 255, size=xs, mode="bilinear")
    with torch.no_grad():
        state = m.template(z)
        ref = m.track(x, state)
    snames = [f"state_{i}" for i in range(len(state))]
    kw = dict(opset_version=opset, do_constant_folding=True, dynamo=False,
              training=torch.onnx.TrainingMode.PRESERVE)  # model is in eval mode: BN exported as inference BN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Template(m), (z,), str(out / "template.onnx"), input_names=["template"],
                          output_names=snames, **kw)
        torch.onnx.export(Track(m), (x, *state), str(out / "track.onnx"), input_names=["search", *snames],
                          output_names=["cls", "loc"], **kw)
    _set_static_shapes(out / "template.onnx", {n: list(t.shape) for n, t in zip(snames, state)})
    _set_static_shapes(out / "track.onnx", {"cls": list(ref[0].shape), "loc": list(ref[1].shape)})
    meta = {
        "format": "siamcan-onnx/1", "model": cfg.name, "opset": opset, "centerness": centerness,
        "template": {"input": "template", "shape": [1, 3, zs, zs], "outputs": snames},
        "track": {"inputs": ["search", *snames], "shape": [1, 3, xs, xs], "outputs": ["cls", "loc"],
                  "state_shapes": [list(s.shape) for s in state]},
        "input": "float32 NCHW, BGR, 0-255 (the crop as HxWx3 uint8, transposed)",
        "tracker": dataclasses.asdict(tc),
    }
    if check:
        from ..tracking.onnx_engine import OnnxEngine

        eng = OnnxEngine(out, meta=meta)
        st = eng.template_array(z.numpy())
        cls, loc = eng.track_array(x.numpy(), [s.numpy() for s in state])

        def rel(a, b):  # max |a - b| / max(1, max |b|)
            return float(np.abs(a - b).max() / max(1.0, float(np.abs(b).max())))

        meta["check"] = {"max_rel_diff_state": max(rel(a, b.numpy()) for a, b in zip(st, state)),
                         "max_abs_diff_cls": float(np.abs(cls - ref[0].numpy()).max()),
                         "max_abs_diff_loc": float(np.abs(loc - ref[1].numpy()).max()),
                         "max_rel_diff_loc": rel(loc, ref[1].numpy()),
                         "max_abs_loc": float(np.abs(ref[1].numpy()).max())}
    (out / "siamcan.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def run(args: argparse.Namespace) -> int:
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
        from .bench import seeded_model

        model, cfg = seeded_model(args.model or "siamcan-lite", args.seed)
    else:
        from ..zoo import load_model

        model, cfg = load_model(args.model, args.weights)
    if not 17 <= args.opset <= max_opset():  # before the model is loaded
        raise SiamcanError(f"--opset must be between 17 and {max_opset()} (the newest this torch and onnx export), "
                           f"got {args.opset}")
    meta = export_onnx(model, cfg, args.onnx, args.opset, check)
    print(f"exported {cfg.name} to {args.onnx}/template.onnx and track.onnx (opset {meta['opset']})")
    if "check" not in meta:
        return 0
    line, ok = check_line(meta["check"])
    print(line, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def check_line(c: dict) -> tuple[str, bool]:
    """The export check as one line that says whether it passed: ONNX Runtime vs PyTorch on one smooth random
    crop, differences relative to each output's own range (an untrained head's box offsets can be 1e6 px)."""
    ok = (c["max_abs_diff_cls"] <= CHECK_TOLERANCE and c["max_rel_diff_loc"] <= CHECK_TOLERANCE
          and c["max_rel_diff_state"] <= CHECK_TOLERANCE)
    detail = (f"score logits within {c['max_abs_diff_cls']:.1e}, box offsets within {c['max_rel_diff_loc']:.1e} "
              f"of their range, template state within {c['max_rel_diff_state']:.1e} (tolerance {CHECK_TOLERANCE:g})")
    if ok:
        return f"check passed: ONNX Runtime gives PyTorch's outputs on a test crop ({detail})", True
    return f"check FAILED: ONNX Runtime differs from PyTorch on a test crop ({detail})", False

"""ONNX export of a model's two inference steps, to files (``siamcan export --onnx``) or in memory (the ``onnx``
engine built straight from a model, :func:`onnx_engine_from_model`).

* ``template.onnx``: ``template`` (1,3,E,E) float32 BGR 0-255 -> ``state_0 .. state_{n-1}`` (the per-target tensors).
* ``track.onnx``: ``search`` (1,3,I,I) + ``state_*`` -> ``cls`` (1,2,S,S), ``loc`` (1,4,S,S).
* ``siamcan.json``: model name, tracker values, input/output names and shapes, opset, the check's numbers.

E, I and S come from the crop geometry of the config. The graphs are traced from the model's own inference module
(``model.inference_module()``: BN folded, template-side work cached), the module the fast engine runs; models
without one are traced as they are. Static shapes, batch 1 (the depth-wise correlation is one grouped Conv whose
weights are a graph input), opset 17 by default.
"""
from __future__ import annotations

import copy
import dataclasses
import io
import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import SiamcanError
from ..geometry import CropGeometry
from .onnx_engine import OnnxEngine

OPSET = 17
CHECK_TOLERANCE = 1e-3  # onnxruntime vs PyTorch: cls logits (absolute), loc and template state (relative to range)


def max_opset() -> int:
    """The newest opset both the TorchScript exporter and the installed ``onnx`` support."""
    import onnx
    from torch.onnx import _constants

    torch_max = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", _constants.ONNX_MAX_OPSET)
    return min(int(torch_max), int(onnx.defs.onnx_opset_version()))


def check_opset(opset) -> None:
    top = max_opset()
    if not isinstance(opset, int) or not 17 <= opset <= top:
        raise SiamcanError(f"--opset must be between 17 and {top} (the newest this torch and onnx export), "
                           f"got {opset}")


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


def smooth_inputs(geometry: CropGeometry, seed: int = 0):
    """Seeded smooth random template and search images (pixel noise is far from any real crop)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    up = torch.nn.functional.interpolate
    z = up(torch.rand(1, 3, 16, 16, generator=g) * 255, size=geometry.exemplar_size, mode="bilinear")
    x = up(torch.rand(1, 3, 32, 32, generator=g) * 255, size=geometry.instance_size, mode="bilinear")
    return z, x


def _set_static_shapes(model, shapes: dict) -> None:
    """Write the known output shapes into the graph (the tracer leaves sliced outputs' dims symbolic)."""
    for v in model.graph.output:
        if v.name in shapes:
            dims = v.type.tensor_type.shape.dim
            del dims[:]
            for d in shapes[v.name]:
                dims.add().dim_value = int(d)


def export_onnx(model, cfg, outdir=None, opset: int = OPSET, check: bool = True, fused: bool = True,
                batch: int = 1) -> tuple[dict, dict[str, bytes]]:
    """Export ``model`` (of config ``cfg``) as ``template.onnx`` and ``track.onnx``.

    Returns ``(meta, graphs)``: the description (also written to ``siamcan.json``) and the two serialized graphs;
    with ``outdir`` the three files are written there. ``check`` runs both graphs in ONNX Runtime on seeded smooth
    images and records the largest differences from PyTorch in ``meta["check"]``. ``batch`` N > 1: only
    ``track.onnx``, for N search crops and the states of N templates concatenated along their first axis (several
    targets in one call; the per-target kernels are the groups of a Conv, a static attribute, hence one graph per N).
    """
    import onnx
    import torch
    from torch import nn

    check_opset(opset)
    geometry = CropGeometry.from_config(cfg.tracker)
    m = copy.deepcopy(model).cpu().float().eval()
    if fused and hasattr(m, "inference_module"):
        m = m.inference_module().eval()

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

    z, x = smooth_inputs(geometry)
    with torch.no_grad():
        state = m.template(z)
        if batch > 1:
            from .engine import stack_states

            x, state = x.repeat(batch, 1, 1, 1), stack_states([state] * batch)
        ref = m.track(x, state)
    snames = [f"state_{i}" for i in range(len(state))]
    kw = dict(opset_version=opset, do_constant_folding=True, dynamo=False,
              training=torch.onnx.TrainingMode.PRESERVE)  # model is in eval mode: BN exported as inference BN
    graphs = {}
    for fname, net, args, inputs, outputs, shapes in filter(None, (
            ("template.onnx", Template(m), (z,), ["template"], snames,
             {n: list(t.shape) for n, t in zip(snames, state)}) if batch == 1 else None,
            ("track.onnx", Track(m), (x, *state), ["search", *snames], ["cls", "loc"],
             {"cls": list(ref[0].shape), "loc": list(ref[1].shape)}))):
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, buf, input_names=inputs, output_names=outputs, **kw)
        g = onnx.load_from_string(buf.getvalue())
        _set_static_shapes(g, shapes)
        onnx.checker.check_model(g)
        graphs[fname] = g.SerializeToString()
    if batch > 1:
        return {"format": "siamcan-onnx/1", "model": cfg.name, "opset": opset, "batch": batch}, graphs
    meta = {
        "format": "siamcan-onnx/1", "model": cfg.name, "opset": opset, "centerness": bool(cfg.model.centerness),
        "template": {"input": "template", "shape": [1, 3, geometry.exemplar_size, geometry.exemplar_size],
                     "outputs": snames},
        "track": {"inputs": ["search", *snames], "shape": [1, 3, geometry.instance_size, geometry.instance_size],
                  "outputs": ["cls", "loc"], "state_shapes": [list(s.shape) for s in state]},
        "input": "float32 NCHW, BGR, 0-255 (the crop as HxWx3 uint8, transposed)",
        "tracker": dataclasses.asdict(cfg.tracker),
    }
    if check:
        eng = OnnxEngine(graphs=graphs, meta=meta)
        st = eng.template_array(z.numpy())
        cls, loc = eng.track_array(x.numpy(), [s.numpy() for s in state])

        def rel(a, b):  # max |a - b| / max(1, max |b|)
            return float(np.abs(a - b).max() / max(1.0, float(np.abs(b).max())))

        meta["check"] = {"max_rel_diff_state": max(rel(a, b.numpy()) for a, b in zip(st, state)),
                         "max_abs_diff_cls": float(np.abs(cls - ref[0].numpy()).max()),
                         "max_abs_diff_loc": float(np.abs(loc - ref[1].numpy()).max()),
                         "max_rel_diff_loc": rel(loc, ref[1].numpy()),
                         "max_abs_loc": float(np.abs(ref[1].numpy()).max())}
    if outdir is not None:
        from ..fileio import atomic_write_bytes, atomic_write_text

        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        for fname, data in graphs.items():
            atomic_write_bytes(out / fname, data)
        atomic_write_text(out / "siamcan.json", json.dumps(meta, indent=2) + "\n")
    return meta, graphs


def onnx_engine_from_model(model, cfg, threads: int | None = None) -> OnnxEngine:
    """Export ``model`` in memory (its inference module, BN folded) and run it in ONNX Runtime."""
    meta, graphs = export_onnx(model, cfg, check=False)

    def batch_graph(n: int) -> bytes:  # the track graph for n targets (MultiTracker), exported at first use
        return export_onnx(model, cfg, check=False, batch=n)[1]["track.onnx"]

    return OnnxEngine(graphs=graphs, meta=meta, threads=threads, fuse_bn=True, batch_graph=batch_graph)

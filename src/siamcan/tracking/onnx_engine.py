"""ONNX Runtime tracker backend: the model's ``template.onnx`` + ``track.onnx`` (:mod:`siamcan.tracking.export`).

    siamcan export --onnx out/ --model siamcan-lite
    siamcan track video.mp4 --init X,Y,W,H --backend onnx --onnx-dir out/

or straight from a model (:func:`siamcan.tracking.export.onnx_engine_from_model`: exported in memory, ~0.5 s for
siamcan-nano), which is the ``auto`` backend on the CPU when ONNX Runtime is installed: for small networks its kernels
beat PyTorch's per-op overhead (``benchmarks/bench_nano.py``). Same engine API as
:class:`~siamcan.tracking.engine.TorchEngine`.
ONNX Runtime's Conv+BatchNorm (and Conv+Mul/Add) fusions are disabled by default so that a graph with BN nodes
keeps the float32 rounding of PyTorch; ``fuse_bn=True`` re-enables them (the exported inference modules have their
BN folded already).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SiamcanError
from ..ortenv import import_onnxruntime

_BN_FUSIONS = ["ConvBNFusion", "ConvAddFusion", "ConvMulFusion"]


class OnnxEngine:
    name = "onnx"

    def __init__(self, onnx_dir=None, threads: int | None = None, fuse_bn: bool = False, meta: dict | None = None,
                 providers: list[str] | None = None, graphs: dict[str, bytes] | None = None,
                 batch_graph: Callable[[int], bytes] | None = None):
        """``batch_graph(n)``: the track graph for ``n`` targets (engines built from a model, which can export it;
        :func:`siamcan.tracking.export.onnx_engine_from_model`); without it ``track_batch`` runs targets one by
        one."""
        try:
            ort = import_onnxruntime()
        except ImportError:
            raise SiamcanError("the onnx backend needs onnxruntime: pip install onnxruntime") from None
        if graphs is None:
            if onnx_dir is None:
                raise SiamcanError("the onnx backend needs the exported folder (--onnx-dir DIR; see siamcan export)")
            d = Path(onnx_dir)
            for f in ("template.onnx", "track.onnx"):
                if not (d / f).is_file():
                    raise SiamcanError(f"{d / f} not found (create it with: siamcan export --onnx {d})")
            if meta is None:
                mp = d / "siamcan.json"
                try:
                    meta = json.loads(mp.read_text()) if mp.is_file() else {}
                except (OSError, ValueError) as e:
                    raise SiamcanError(f"cannot read {mp}: {e}") from None
            sources = {f: str(d / f) for f in ("template.onnx", "track.onnx")}
            where = str(d)
        else:
            sources, where = graphs, "memory"
        self.meta = meta or {}
        so = ort.SessionOptions()
        if threads is None:
            from .fast import physical_cores

            threads = physical_cores()
        self.threads = threads
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        kw = {} if fuse_bn else {"disabled_optimizers": _BN_FUSIONS}
        providers = providers or ["CPUExecutionProvider"]
        try:
            self.t_sess = ort.InferenceSession(sources["template.onnx"], so, providers=providers, **kw)
            self.x_sess = ort.InferenceSession(sources["track.onnx"], so, providers=providers, **kw)
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise SiamcanError(f"cannot load the ONNX files in {where}: {first}") from None
        self._so, self._kw, self._providers = so, kw, providers
        self._batch_graph = batch_graph
        self._batched: dict[int, object] = {1: self.x_sess}  # track sessions by batch size
        self.t_in = self.t_sess.get_inputs()[0].name
        self.x_in = [i.name for i in self.x_sess.get_inputs()]
        self.out = [o.name for o in self.x_sess.get_outputs()][:2]
        self._check_signature(where)

    def _check_signature(self, d: str) -> None:
        """The two files must be the template / per-frame networks of one ``siamcan export``: a folder of other
        ONNX models, or the two files swapped, is a one-line error here instead of an ONNX Runtime error later."""
        t_ins, t_outs = self.t_sess.get_inputs(), self.t_sess.get_outputs()
        x_ins, x_outs = self.x_sess.get_inputs(), self.x_sess.get_outputs()
        problem = None
        if len(t_ins) != 1 or len(t_ins[0].shape) != 4:
            problem = f"template.onnx takes {len(t_ins)} input(s), expected one image (1,3,H,W)"
        elif len(x_ins) != 1 + len(t_outs) or len(x_ins[0].shape) != 4 or len(x_outs) < 2:
            problem = (f"track.onnx takes {len(x_ins)} input(s) and gives {len(x_outs)} output(s); expected the "
                       f"search image plus the {len(t_outs)} template state(s) of template.onnx, and cls, loc")
        else:
            for a, b in zip(t_outs, x_ins[1:]):
                if list(a.shape) != list(b.shape):
                    problem = f"template.onnx gives state {a.name} {a.shape} but track.onnx expects {b.shape}"
                    break
        if problem:
            raise SiamcanError(f"{d} does not hold a siamcan export (template.onnx + track.onnx of one model; "
                               f"are they swapped?): {problem}")
        z, x = t_ins[0].shape[-1], x_ins[0].shape[-1]
        self.sizes = (z if isinstance(z, int) else None, x if isinstance(x, int) else None)

    def check_tracker(self, exemplar_size: int, instance_size: int, score_size: int | None = None) -> None:
        """The tracker's crop sizes must be the exported ones (static shapes), and its score map size the one the
        export was made with (where ``siamcan.json`` records it)."""
        z, x = self.sizes
        model = self.meta.get("model")
        source = f"the ONNX files (exported from {model})" if model else "the ONNX files"
        if (z and z != exemplar_size) or (x and x != instance_size):
            raise SiamcanError(f"{source} take {z}/{x} px crops but the tracker config has exemplar_size "
                               f"{exemplar_size} / instance_size {instance_size}: export with that config or use "
                               "its model name (--model)")
        exported = (self.meta.get("tracker") or {}).get("score_size")
        if score_size is not None and exported and exported != score_size:
            raise SiamcanError(f"{source} give {exported}x{exported} score maps but the tracker config has score_size "
                               f"{score_size}: use the exported model's config (--model {model or 'NAME'}) or "
                               "export with this one")

    @staticmethod
    def _blob(crop: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)

    # array-level API (NCHW float32 inputs), used by the export check and tests
    def template_array(self, z: np.ndarray) -> list[np.ndarray]:
        return self.t_sess.run(None, {self.t_in: z.astype(np.float32, copy=False)})

    def track_array(self, x: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        feed = {self.x_in[0]: x.astype(np.float32, copy=False)}
        feed.update(zip(self.x_in[1:], state))
        cls, loc = self.x_sess.run(self.out, feed)
        return cls, loc

    # engine API
    def template(self, crop: np.ndarray):
        return self.template_array(self._blob(crop))

    def track(self, crop: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self.track_array(self._blob(crop), state)
        return cls[0], loc[0]

    # several targets in one call (MultiTracker)
    @staticmethod
    def stack_states(states) -> tuple:
        from .engine import stack_states

        return stack_states(states)

    def _batch_session(self, n: int):
        """The track session for ``n`` targets, exported from the model at its first use (about 0.5 s for
        siamcan-nano); None for an engine on exported files (they take one target)."""
        if n not in self._batched:
            if self._batch_graph is None:
                return None
            ort = import_onnxruntime()
            self._batched[n] = ort.InferenceSession(self._batch_graph(n), self._so, providers=self._providers,
                                                    **self._kw)
        return self._batched[n]

    def prepare_batch(self, n: int) -> None:
        """Export the graph for ``n`` targets now (MultiTracker: when targets are set up, not in the first frame)."""
        self._batch_session(n)

    def track_batch(self, crops: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        """N search crops (NxHxWx3 uint8) against N templates (``stack_states``) in one ONNX Runtime run. An engine
        on the files of ``siamcan export`` (batch 1) runs them one after the other."""
        n = len(crops)
        x = np.ascontiguousarray(np.asarray(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        sess = self._batch_session(n)
        if sess is not None:
            feed = {self.x_in[0]: x}
            feed.update(zip(self.x_in[1:], state))
            cls, loc = sess.run(self.out, feed)
            return cls, loc
        # one target at a time: split the stacked state back into the targets' own
        per = [np.split(s, n, axis=0) for s in state]
        outs = [self.track_array(x[i:i + 1], [p[i] for p in per]) for i in range(n)]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

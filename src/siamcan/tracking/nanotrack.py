"""NanoTrack as a reference tracker: its released ONNX networks in ONNX Runtime, with its own tracker values.

NanoTrack (HonglinChu/SiamTrackers, Apache-2.0) is a light SiamBAN; its tracker (``NanoTracker``) is pysot's
SiamBAN tracker: the same crops (context 0.5, 127/255, mean padding), softmax foreground score, (l, t, r, b) boxes on
a stride-16 grid, scale/ratio penalty, cosine window and size smoothing as :class:`SiamCANTracker`. So the reference
tracker is :class:`SiamCANTracker` with NanoTrack's networks (:class:`NanoTrackEngine`) and NanoTrack's values
(``TRACK`` of its ``configv2.yaml`` / ``configv3.yaml``, in :data:`VERSIONS`).

The released v3 backbone has its input fixed at 1x3x255x255; its spatial dims are made symbolic (the ``onnx``
package, in memory) so that the same network takes the 127 template. NanoTrack was trained on pysot crops: BGR,
0-255, no normalisation (OpenCV's ``TrackerNano`` feeds RGB instead; ``rgb=True`` reproduces that).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import TrackerConfig
from ..errors import SiamcanError
from ..ortenv import import_onnxruntime


@dataclass(frozen=True)
class NanoTrackVersion:
    folder: str  # under baselines/nanotrack/
    backbone: str
    head: str
    tracker: TrackerConfig  # NanoTrack's TRACK values (its config file), stride 16


VERSIONS = {
    # configv3.yaml TRACK: WINDOW_INFLUENCE 0.455, PENALTY_K 0.138, LR 0.348, OUTPUT_SIZE 15
    "v3": NanoTrackVersion("nanotrackv3", "nanotrack_backbone.onnx", "nanotrack_head.onnx",
                           TrackerConfig(window_influence=0.455, penalty_k=0.138, lr=0.348, stride=16, score_size=15)),
    # configv2.yaml TRACK: WINDOW_INFLUENCE 0.490, PENALTY_K 0.150, LR 0.385; score size (255-127)//16 + 1 + 7 = 16
    "v2": NanoTrackVersion("nanotrackv2", "nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx",
                           TrackerConfig(window_influence=0.490, penalty_k=0.150, lr=0.385, stride=16, score_size=16)),
}


def shared_data_dir() -> Path:
    """``$SIAMCAN_SHARED_DATA``, else ``../shared/data`` from the working directory, else beside the checkout."""
    candidates = []
    if os.environ.get("SIAMCAN_SHARED_DATA"):
        candidates.append(Path(os.environ["SIAMCAN_SHARED_DATA"]))
    candidates.append(Path("..") / "shared" / "data")
    candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), candidates[-1])


def default_dir(version: str) -> Path:
    return shared_data_dir() / "baselines" / "nanotrack" / VERSIONS[version].folder


def symbolic_spatial_dims(model) -> None:
    """Make the height/width of every graph input and output symbolic (in place), so a network exported for one
    crop size runs on another (NanoTrack v3's backbone: 255 -> also 127)."""
    for i, v in enumerate(list(model.graph.input) + list(model.graph.output)):
        dims = v.type.tensor_type.shape.dim
        for j, d in enumerate(dims):
            if j >= 2:
                d.ClearField("dim_value")
                d.dim_param = f"s{i}_{j}"


def session(path: Path, threads: int = 1, symbolic: bool = False):
    """An ONNX Runtime session on the CPU with ``threads`` intra-op threads (``symbolic``: see above)."""
    try:
        ort = import_onnxruntime()
    except ImportError:
        raise SiamcanError("NanoTrack runs in ONNX Runtime: pip install onnxruntime (or siamcan[onnx])") from None
    if not path.is_file():
        raise SiamcanError(f"NanoTrack model file not found: {path} (set --nanotrack-dir)")
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    try:
        if symbolic:
            import onnx

            m = onnx.load(str(path))
            symbolic_spatial_dims(m)
            return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnx / onnxruntime raise their own types for bad files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise SiamcanError(f"cannot load NanoTrack model {path}: {first}") from None


class NanoTrackEngine:
    """NanoTrack's backbone + head ONNX files behind the engine API of :mod:`siamcan.tracking.engine`:
    ``template(crop) -> state`` (the template features), ``track(crop, state) -> (cls, loc)`` as numpy maps."""

    name = "onnx"

    def __init__(self, version: str = "v3", folder: str | os.PathLike | None = None, threads: int = 1,
                 rgb: bool = False):
        if version not in VERSIONS:
            raise SiamcanError(f"unknown NanoTrack version '{version}' (known: {', '.join(VERSIONS)})")
        v = VERSIONS[version]
        d = Path(folder) if folder else default_dir(version)
        if not d.is_dir():
            raise SiamcanError(f"NanoTrack {version} folder not found: {d} (set --nanotrack-dir)")
        self.version, self.rgb = version, rgb
        self.backbone = session(d / v.backbone, threads, symbolic=True)
        self.head = session(d / v.head, threads)
        self.b_in = self.backbone.get_inputs()[0].name
        self.h_in = [i.name for i in self.head.get_inputs()]

    def features(self, crops: np.ndarray) -> np.ndarray:
        """Backbone features of (N, 3, H, W) float32 BGR crops (N = 1: the released graphs take batch 1)."""
        if self.rgb:
            crops = crops[:, ::-1]
        return self.backbone.run(None, {self.b_in: np.ascontiguousarray(crops, dtype=np.float32)})[0]

    def head_maps(self, zf: np.ndarray, xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self.head.run(None, {self.h_in[0]: zf, self.h_in[1]: xf})
        return cls, loc

    @staticmethod
    def _blob(crop: np.ndarray) -> np.ndarray:
        return crop.transpose(2, 0, 1)[None].astype(np.float32)

    def template(self, crop: np.ndarray) -> np.ndarray:
        return self.features(self._blob(crop))

    def track(self, crop: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self.head_maps(state, self.features(self._blob(crop)))
        return cls[0], loc[0]


def nanotrack_tracker(version: str = "v3", folder=None, threads: int = 1, rgb: bool = False,
                      tracker_config: TrackerConfig | None = None):
    """NanoTrack ``version`` as a :class:`~siamcan.tracking.tracker.SiamCANTracker` with its own values."""
    from .tracker import SiamCANTracker

    engine = NanoTrackEngine(version, folder, threads, rgb)
    return SiamCANTracker(engine, tracker_config or VERSIONS[version].tracker)

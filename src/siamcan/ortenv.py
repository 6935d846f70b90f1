"""ONNX Runtime, imported one way everywhere (the ``onnx`` backend, NanoTrack, the export check).

Since 1.29, ONNX Runtime's Linux / macOS wheels start a telemetry client when they are imported, which writes a
device id and an event database under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (macOS: ``~/Library/
Application Support/Microsoft/DeveloperTools/``) - outside any folder a siamcan command was given. siamcan sets
``ORT_DISABLE_TELEMETRY=1`` before the first import unless the variable is already set (measured with onnxruntime
1.32: nothing is written then); set ``ORT_DISABLE_TELEMETRY=0`` to keep ONNX Runtime's default.
"""
from __future__ import annotations

import os


def import_onnxruntime():
    """The ``onnxruntime`` module (ImportError when it is not installed), its telemetry off unless chosen."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime

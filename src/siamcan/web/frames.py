"""Random access to the frames of a source, as JPEG for the page (the slider, the results viewer)."""
from __future__ import annotations

import threading

import cv2
import numpy as np

from ..errors import SiamcanError


class FrameReader:
    """``jpeg(i)``: frame ``i`` (0-based) of a :class:`~siamcan.tracking.sources.FrameSource` or of a list of image
    paths. A camera or stream offers only the first frame it read (it cannot seek)."""

    def __init__(self, source=None, images: list | None = None):
        self.source = source
        self.images = images if images is not None else (source.images if source is not None else None)
        self._cap = None
        self._lock = threading.Lock()
        self.first = source._first.copy() if source is not None and source.stream and source._first is not None \
            else None

    def __len__(self) -> int:
        if self.images is not None:
            return len(self.images)
        if self.source.stream:
            return 1
        return len(self.source)

    def frame(self, i: int) -> np.ndarray:
        if not 0 <= i < max(len(self), 1):
            raise SiamcanError(f"frame {i} is out of range (0..{len(self) - 1})")
        if self.images is not None:
            img = cv2.imread(str(self.images[i]), cv2.IMREAD_COLOR)
        elif self.source.stream:
            img = self.first
        else:
            with self._lock:
                if self._cap is None:
                    self._cap = cv2.VideoCapture(str(self.source.path))
                cap = self._cap
                if int(cap.get(cv2.CAP_PROP_POS_FRAMES)) != i:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                ok, img = cap.read()
                img = img if ok else None
        if img is None:
            raise SiamcanError(f"frame {i + 1} cannot be decoded")
        return img

    def jpeg(self, i: int, quality: int = 90) -> bytes:
        ok, buf = cv2.imencode(".jpg", self.frame(i), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise SiamcanError(f"frame {i + 1} cannot be encoded as JPEG")
        return buf.tobytes()

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

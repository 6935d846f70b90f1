"""Frame sources: a video file or a folder of images, read lazily, one BGR uint8 frame at a time.

A frame that cannot be decoded in the middle of a sequence is yielded as ``None`` (the caller carries the previous
box); a source that is missing, empty, not a video, or whose images differ in size raises SiamcanError.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import SiamcanError
from ..fileio import image_files


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Images of a folder, or of its ``img/`` / ``color/`` sub-folder (OTB / VOT layouts)."""
    d = Path(folder)
    files = image_files(d)
    if not files and (d / "img").is_dir():
        return list_images(d / "img")
    if not files and (d / "color").is_dir():
        return list_images(d / "color")
    return files


class FrameSource:
    """Iterable of frames (np.ndarray HxWx3 uint8 BGR, or None for an undecodable frame)."""

    def __init__(self, source: str | os.PathLike):
        self.path = Path(source)
        if not self.path.exists():
            raise SiamcanError(f"source not found: {self.path}")
        self.images: list[Path] | None = None
        if self.path.is_dir():
            self.images = list_images(self.path)
            if not self.images:
                raise SiamcanError(f"no images (.jpg, .png, ...) in folder {self.path}")
            self.size = self._first_size()
            self._check_sizes()
            self.num_frames = len(self.images)
            self.fps = 30.0
        else:
            if self.path.stat().st_size == 0:
                raise SiamcanError(f"video file is empty: {self.path}")
            cap = cv2.VideoCapture(str(self.path))
            ok, frame = cap.read() if cap.isOpened() else (False, None)
            if not ok or frame is None:
                cap.release()
                raise SiamcanError(f"cannot read video {self.path}: not a video file OpenCV can decode")
            self.size = (frame.shape[1], frame.shape[0])
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.num_frames = n if n > 0 else None
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps and fps > 0 else 30.0
            cap.release()

    def _first_size(self) -> tuple[int, int]:
        for p in self.images:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is not None:
                return img.shape[1], img.shape[0]
        raise SiamcanError(f"none of the {len(self.images)} images in {self.path} can be decoded")

    def _check_sizes(self) -> None:
        """Reject a folder of mixed image sizes before tracking starts (reads image headers only).

        Files whose header cannot be read are left for the decoder (reported and carried while tracking).
        """
        from PIL import Image

        w, h = self.size
        for p in self.images:
            try:
                with Image.open(p) as im:
                    size = im.size
            except (OSError, ValueError, SyntaxError):
                continue
            if size not in ((w, h), (h, w)):  # (h, w): EXIF-rotated JPEG, checked again when decoded
                raise SiamcanError(f"image {p.name} is {size[0]}x{size[1]}, the sequence is {w}x{h}: "
                                   f"mixed image sizes in {self.path}")

    def __len__(self) -> int:
        return self.num_frames or 0

    def __iter__(self) -> Iterator[np.ndarray | None]:
        if self.images is not None:
            for p in self.images:
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if img is not None and (img.shape[1], img.shape[0]) != self.size:
                    raise SiamcanError(f"image {p.name} is {img.shape[1]}x{img.shape[0]}, the sequence is "
                                       f"{self.size[0]}x{self.size[1]}: mixed image sizes in {self.path}")
                yield img
        else:
            cap = cv2.VideoCapture(str(self.path))
            try:
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    yield frame
            finally:
                cap.release()

    def frame_name(self, i: int) -> str:
        return self.images[i].name if self.images is not None else f"frame {i + 1}"

"""Frame sources: a video file, a folder of images, a camera or a stream URL, read lazily, one BGR uint8 frame at a
time.

A frame that cannot be decoded in the middle of a sequence is yielded as ``None`` (the caller carries the previous
box); a source that is missing, empty, not a video, or whose images differ in size raises SiamcanError.

A camera (its index: ``"0"``) or a URL (``rtsp://``, ``http://``, ...) that is not an existing path is a *stream*:
it is opened once, its first frame is read at construction (so a dead camera or URL fails before any model is
loaded), and it can be iterated only once.
"""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..decoders import imread, read_frame, video_capture
from ..errors import SiamcanError
from ..fileio import image_files


MAX_CAMERA_INDEX = 9999  # OpenCV adds backend ids (CAP_V4L2 = 200, ...) to small indices; a C int overflows above 2**31
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")


def is_stream(source: str | os.PathLike) -> bool:
    """A camera index (``"0"``) or a URL of a scheme FFmpeg reads (rtsp, http, ...), unless a path of that name
    exists."""
    s = str(source)
    if Path(s).exists():
        return False
    if s.isdigit():
        return True
    scheme, sep, _ = s.partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


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
        self.name = str(source)
        self.stream = is_stream(source)
        self.images: list[Path] | None = None
        self._cap = self._first = None
        if self.stream:
            self.path = None
            self._open_stream()
            return
        self.path = Path(source)
        if not self.path.exists():
            raise SiamcanError(f"source not found: {self.path}")
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
            cap = video_capture(str(self.path))
            ok, frame = read_frame(cap) if cap.isOpened() else (False, None)
            if not ok or frame is None:
                cap.release()
                raise SiamcanError(f"cannot read video {self.path}: not a video file OpenCV can decode")
            self.size = (frame.shape[1], frame.shape[0])
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.num_frames = n if n > 0 else None
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps and fps > 0 else 30.0
            cap.release()

    def _open_stream(self) -> None:
        s = self.name
        what = f"camera {s}" if s.isdigit() else f"stream {s}"
        if s.isdigit() and int(s) > MAX_CAMERA_INDEX:
            raise SiamcanError(f"camera index {s} is too large (cameras are numbered 0, 1, ...; at most "
                               f"{MAX_CAMERA_INDEX})")
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our error below says it in one line
        try:
            cap = video_capture(int(s) if s.isdigit() else s)
            ok, frame = read_frame(cap) if cap.isOpened() else (False, None)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not ok or frame is None:
            cap.release()
            raise SiamcanError(f"cannot open {what}: OpenCV got no frame from it (no such camera, URL unreachable "
                               "or a format this OpenCV build cannot decode)")
        self._cap, self._first = cap, frame
        self.size = (frame.shape[1], frame.shape[0])
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.num_frames = n if n > 0 else None
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else 30.0

    def close(self) -> None:
        """Release a stream that will not be read (a file or folder holds nothing open)."""
        if self._cap is not None:
            self._cap.release()
            self._cap = self._first = None

    def _first_size(self) -> tuple[int, int]:
        for p in self.images:
            self._header_size(p)  # a huge image is refused before OpenCV decodes it
            img = imread(p)
            if img is not None:
                return img.shape[1], img.shape[0]
        raise SiamcanError(f"none of the {len(self.images)} images in {self.path} can be decoded")

    def _check_sizes(self) -> None:
        """Reject a folder of mixed image sizes before tracking starts (reads image headers only).

        Files whose header cannot be read are left for the decoder (reported and carried while tracking).
        """
        w, h = self.size
        for p in self.images:
            size = self._header_size(p)
            if size is None:
                continue
            if size not in ((w, h), (h, w)):  # (h, w): EXIF-rotated JPEG, checked again when decoded
                raise SiamcanError(f"image {p.name} is {size[0]}x{size[1]}, the sequence is {w}x{h}: "
                                   f"mixed image sizes in {self.path}")

    def _header_size(self, p: Path) -> tuple[int, int] | None:
        """(width, height) from an image's header, None if the header cannot be read; a header that claims more
        pixels than Pillow's decompression-bomb limit is a one-line error (OpenCV would try to decode it)."""
        from PIL import Image

        try:
            with Image.open(p) as im:
                return im.size
        except Image.DecompressionBombError as e:
            raise SiamcanError(f"image {p.name} in {self.path} is too large to read: {e}") from None
        except (OSError, ValueError, SyntaxError):
            return None

    def __len__(self) -> int:
        return self.num_frames or 0

    def __iter__(self) -> Iterator[np.ndarray | None]:
        if self.stream:
            yield from self._iter_stream()
        elif self.images is not None:
            for p in self.images:
                img = imread(p)
                if img is not None and (img.shape[1], img.shape[0]) != self.size:
                    raise SiamcanError(f"image {p.name} is {img.shape[1]}x{img.shape[0]}, the sequence is "
                                       f"{self.size[0]}x{self.size[1]}: mixed image sizes in {self.path}")
                yield img
        else:
            yield from _read_capture(video_capture(str(self.path)))

    def _iter_stream(self) -> Iterator[np.ndarray]:
        if self._cap is None:
            raise SiamcanError(f"{self.name}: a camera or stream can be read only once")
        cap, first = self._cap, self._first
        self._cap = self._first = None
        yield from _read_capture(cap, first)

    def frame_name(self, i: int) -> str:
        return self.images[i].name if self.images is not None else f"frame {i + 1}"


def _read_capture(cap: cv2.VideoCapture, first: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """``first`` (a frame already read), then every frame of ``cap`` until it ends; releases ``cap``."""
    try:
        if first is not None:
            yield first
        while True:
            ok, frame = read_frame(cap)
            if not ok:
                break
            yield frame
    finally:
        cap.release()


def numbered_frames(source, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray | None]]:
    """``(index, frame)`` of ``source`` - a video file, a folder of images, a camera index (``0`` or ``"0"``), a
    stream URL (:class:`FrameSource`) or any iterable of frames - for the trackers' ``track``: at most
    ``max_frames``, read lazily; a frame that cannot be decoded is None, except the first, which is an error. A
    source this opened is closed when the loop ends or the generator is closed."""
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise SiamcanError(f"max_frames must be a positive integer or None, got {max_frames!r}")
    is_source = isinstance(source, (str, os.PathLike, int)) and not isinstance(source, bool)
    frames = FrameSource(str(source) if isinstance(source, int) else source) if is_source else source
    try:
        limit = None if max_frames is None else min(max_frames, sys.maxsize)  # islice takes at most maxsize
        for i, frame in enumerate(itertools.islice(frames, limit)):
            if i == 0 and frame is None:
                name = f" ({frames.frame_name(0)})" if isinstance(frames, FrameSource) else ""
                raise SiamcanError(f"the first frame{name} cannot be decoded")
            yield i, frame
    finally:
        if isinstance(frames, FrameSource):
            frames.close()

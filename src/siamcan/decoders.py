"""Image and video decoding without the decoder libraries' own messages.

Bad input must give exactly one line (siamcan's). libjpeg prints "Premature end of JPEG file" / "Corrupt JPEG data:
..." straight to the process's stderr (file descriptor 2, below Python and below OpenCV's log level), and FFmpeg
prints "[mov,mp4,... @ 0x...] moov atom not found" through OpenCV. Frames are therefore decoded with fd 2 pointed at
the null device for the duration of the library call (:func:`quiet_native_stderr`), and FFmpeg's log level is set
to quiet (``OPENCV_FFMPEG_LOGLEVEL=-8`` unless the variable is set). What siamcan itself reports (an undecodable
frame, an unreadable video) is unchanged.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import numpy as np

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when OpenCV's FFmpeg backend opens its first file

_lock = threading.Lock()
_depth = 0
_saved: int | None = None
_null: int | None = None


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Inside the block, what C libraries write to file descriptor 2 goes nowhere. Nested and concurrent uses share
    one redirection (the first opens it, the last closes it); where fd 2 cannot be duplicated, nothing changes."""
    global _depth, _saved, _null
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            try:
                if _null is None:
                    _null = os.open(os.devnull, os.O_WRONLY)
                _saved = os.dup(2)
                os.dup2(_null, 2)
            except OSError:
                _saved = None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                os.dup2(_saved, 2)
                os.close(_saved)
                _saved = None


def imread(path) -> np.ndarray | None:
    """``cv2.imread(path, IMREAD_COLOR)`` (BGR uint8, or None when it cannot be decoded), silently."""
    import cv2

    with quiet_native_stderr():
        return cv2.imread(str(path), cv2.IMREAD_COLOR)


def video_capture(source):
    """``cv2.VideoCapture(source)`` (a path, URL or camera index), silently."""
    import cv2

    with quiet_native_stderr():
        return cv2.VideoCapture(source)


def read_frame(cap) -> tuple[bool, np.ndarray | None]:
    """``cap.read()``, silently."""
    with quiet_native_stderr():
        return cap.read()

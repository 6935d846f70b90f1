"""Writing annotated videos (mp4 via OpenCV, or GIF via Pillow)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import SiamcanError


def draw_box(frame: np.ndarray, box, color=(0, 255, 0), thickness: int = 2, label: str | None = None) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    out = frame.copy()
    cv2.rectangle(out, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), color, thickness)
    if label:
        cv2.putText(out, label, (int(x), max(int(y) - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return out


GIF_MAX_SIDE = 320


class VideoWriter:
    """Annotated output video; ``.gif`` goes through Pillow, anything else through OpenCV (mp4v).

    Written atomically: frames go to a hidden temp file beside the target, renamed into place by :meth:`close`;
    :meth:`abort` (an interrupted or failed run) removes it, so the video is complete or absent.
    """

    def __init__(self, path: str, fps: float = 30.0):
        self.path = Path(path)
        if self.path.is_dir():
            raise SiamcanError(f"--save-video {self.path} is a folder, expected a file name like out.mp4")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix}")
        self.fps = fps
        self.gif = self.path.suffix.lower() == ".gif"
        self.frames: list = []
        self.writer = None

    def write(self, frame: np.ndarray, box, carried: bool = False, gt=None) -> None:
        img = frame
        if gt is not None:
            img = draw_box(img, gt, (255, 128, 0), 1)
        img = draw_box(img, box, (0, 0, 255) if carried else (0, 255, 0))
        if self.gif:  # GIFs are for looking at: at most GIF_MAX_SIDE px, 64-colour palette, a few MB
            from PIL import Image
            scale = GIF_MAX_SIDE / max(img.shape[:2])
            if scale < 1:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            self.frames.append(Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).quantize(64))
            return
        if self.writer is None:
            h, w = img.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                self.abort()
                raise SiamcanError(f"cannot open {self.path} for writing a video (use .mp4, .avi or .gif)")
        self.writer.write(img)

    def close(self) -> None:
        """Finish the video and move it into place."""
        if self.gif and self.frames:
            self.frames[0].save(self.tmp, format="GIF", save_all=True, append_images=self.frames[1:],
                                duration=int(1000 / self.fps), loop=0)
            self.frames = []
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self.tmp.exists():
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop a partly written video (nothing is left at the target path)."""
        self.frames = []
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self.tmp.exists():
            self.tmp.unlink()

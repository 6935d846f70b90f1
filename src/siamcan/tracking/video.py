"""Writing annotated videos: H.264 MP4 through PyAV, streamed GIF through Pillow, anything else through OpenCV.

* ``.mp4`` / ``.m4v`` / ``.mov`` / ``.mkv``: H.264 (libx264), yuv420p, ``+faststart`` - what browsers and players
  play. OpenCV's own MP4 writer only has MPEG-4 Part 2 (``mp4v``) in the pip wheels, which browsers do not play;
  PyAV's wheels bundle FFmpeg with libx264, so ``pip install`` is all it takes (no system FFmpeg).
* ``.gif``: written frame by frame (memory stays flat however long the video is), at most ``GIF_MAX_SIDE`` px, 61
  colours per frame from the image plus three reserved for the boxes, so the box colours are exact in every frame.
* other extensions (``.avi``, ...): OpenCV's writer (mp4v), as before.

Colours: tracker green, ground truth orange (demo), a carried box (undecodable frame) red, the box while the
tracker considers the target lost magenta; the tracker's confidence is written above its box (not in GIFs).
Several targets (:meth:`VideoWriter.write_targets`): each id in its own colour (:func:`id_color`) with its number
above the box (" lost" after it while the target is lost; not in GIFs).
"""
from __future__ import annotations

import glob
import os
import re
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import SiamcanError
from ..fileio import process_alive, remove_stale_temps, temp_path

TRACK_COLOR = (0, 255, 0)  # BGR: green
GT_COLOR = (0, 140, 255)  # BGR: orange
CARRIED_COLOR = (0, 0, 255)  # BGR: red
LOST_COLOR = (255, 0, 255)  # BGR: magenta
# several targets (siamcan track with more than one box): one colour per id, saturated and far apart (BGR)
ID_COLORS = ((60, 60, 255), (255, 160, 40), (40, 230, 40), (0, 210, 255), (255, 60, 255), (255, 255, 0),
             (0, 130, 255), (255, 60, 140), (255, 255, 255), (150, 255, 150))
GIF_MAX_SIDE = 320
H264_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
VIDEO_HINT = "use .mp4, .mov, .mkv, .gif or .avi"  # the formats the README documents
# still-image formats: OpenCV's writer "writes" them without a decodable frame, so they are refused by name
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jp2", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".pbm", ".pgm",
                  ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".exr", ".hdr", ".pic", ".avif"}
_GIF_COLORS = 61  # image colours per GIF frame; palette entries 61, 62, 63 are the box colours


def id_color(i: int) -> tuple[int, int, int]:
    """The BGR colour of target id ``i`` (:data:`ID_COLORS`, cycling)."""
    return ID_COLORS[int(i) % len(ID_COLORS)]


def draw_box(frame: np.ndarray, box, color=TRACK_COLOR, thickness: int = 2, label: str | None = None) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    out = frame.copy()
    cv2.rectangle(out, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), color, thickness)
    if label:
        cv2.putText(out, label, (int(x), max(int(y) - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return out


def _boxes(box, carried: bool, gt, lost: bool = False) -> list[tuple[list[float], tuple[int, int, int]]]:
    """What to draw, bottom first: the ground truth (if any), then the tracker's box."""
    out = [] if gt is None else [([float(v) for v in gt], GT_COLOR)]
    color = CARRIED_COLOR if carried else LOST_COLOR if lost else TRACK_COLOR
    return out + [([float(v) for v in box], color)]


class VideoWriter:
    """Annotated output video, by extension (see the module docstring).

    Written atomically: frames go to a hidden temp file beside the target, renamed into place by :meth:`close`;
    :meth:`abort` (an interrupted or failed run) removes it, so the video is complete or absent.
    """

    def __init__(self, path: str, fps: float = 30.0):
        self.path = Path(path)
        if self.path.is_dir():
            raise SiamcanError(f"--save-video {self.path} is a folder, expected a file name like out.mp4")
        check_video_name(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.path, self.path.suffix)  # this program's own temp name (fileio)
        self.fps = fps if fps and 0 < fps < 1000 else 30.0
        suffix = self.path.suffix.lower()
        self.gif = suffix == ".gif"
        self.h264 = H264_SUFFIXES.get(suffix)
        self.writer = None  # cv2.VideoWriter, _H264Writer or _GifWriter, opened at the first frame
        self.frames_written = 0

    def write(self, frame: np.ndarray, box, carried: bool = False, gt=None, score: float | None = None,
              lost: bool = False) -> None:
        """One frame with the tracker's box (and the ground truth, if given); ``score`` is written above the box,
        ``lost`` draws it in the lost colour."""
        boxes = _boxes(box, carried, gt, lost)
        if self.gif:
            try:
                if self.writer is None:
                    self.writer = _GifWriter(self.tmp, self.fps)
                self.writer.write(frame, boxes)
            except OSError as e:  # a full or read-only disk: name the video, not its temp file
                raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None
            self.frames_written += 1
            return
        img = frame
        for i, (b, color) in enumerate(boxes):
            last = i == len(boxes) - 1
            label = None
            if last and score is not None and score == score:  # not NaN
                label = f"{'lost ' if lost else ''}{score:.2f}"
            img = draw_box(img, b, color, label=label)
        self._write_image(img)

    def write_targets(self, frame: np.ndarray, targets) -> None:
        """One frame with several targets' boxes: ``targets`` are (id, box, score, lost), each drawn in its id's
        colour with its number."""
        boxes = [([float(v) for v in t[1]], id_color(t[0])) for t in targets]
        if self.gif:
            if self.writer is None:
                self.writer = _GifWriter(self.tmp, self.fps)
            self.writer.write(frame, boxes)
            self.frames_written += 1
            return
        img = frame
        for (b, color), t in zip(boxes, targets):
            img = draw_box(img, b, color, label=f"{t[0]}{' lost' if t[3] else ''}")
        self._write_image(img)

    def _write_image(self, img: np.ndarray) -> None:
        if self.writer is None:
            h, w = img.shape[:2]
            if self.h264:
                self.writer = _H264Writer(self.tmp, self.fps, self.h264)
            else:
                self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                if not self.writer.isOpened():
                    try:  # an unwritable folder is the environment's failure (exit 1), not the name's
                        open(self.tmp, "ab").close()
                    except OSError as e:
                        raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None
                    finally:
                        self.writer = None
                    self.abort()
                    raise SiamcanError(f"cannot open {self.path} for writing a video ({VIDEO_HINT})")
        try:
            self.writer.write(img)
        except OSError as e:  # a full or read-only disk: name the video, not its temp file
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the video and move it into place (a video that cannot be finished - a full disk - is removed)."""
        if self.writer is not None:
            try:
                self.writer.release()
            except BaseException as e:
                self.writer = None
                self.abort()
                if isinstance(e, OSError):
                    raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None
                raise
            self.writer = None
            if not (self.gif or self.h264):
                self._check_opencv_video()
        if self.tmp.exists():
            os.replace(self.tmp, self.path)
            remove_stale_temps(self.path.parent, self.path.name)  # what killed runs left for this video
            for old in self.path.parent.glob(f".{glob.escape(self.path.stem)}.*.tmp{glob.escape(self.path.suffix)}"):
                legacy = re.fullmatch(rf"\.{re.escape(self.path.stem)}\.(\d{{1,10}})\.tmp{re.escape(self.path.suffix)}",
                                      old.name)  # the name before issue 26: .STEM.PID.tmpSUFFIX
                if legacy and not process_alive(int(legacy[1])):
                    old.unlink(missing_ok=True)

    def _check_opencv_video(self) -> None:
        """OpenCV's writer reports no failed write (a full disk gave a video with no frame and exit 0): count the
        frames of the finished file before it goes into place (reading them back; the header's count is written
        even when the frames were not)."""
        import errno

        cap = cv2.VideoCapture(str(self.tmp))
        n = 0
        while cap.isOpened() and n < self.frames_written and cap.grab():
            n += 1
        cap.release()
        if n == self.frames_written:
            return
        try:  # before the temp file goes, which frees its space
            full = os.statvfs(self.path.parent).f_bavail == 0
        except (OSError, AttributeError):
            full = False
        self.abort()
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        raise OSError(errno.EIO, f"OpenCV wrote {n} of {self.frames_written} frames of the video", str(self.path))

    def abort(self) -> None:
        """Drop a partly written video (nothing is left at the target path)."""
        if self.writer is not None:
            try:
                self.writer.release()
            except Exception:  # an encoder that failed mid-way: the file goes anyway
                pass
            self.writer = None
        if self.tmp.exists():
            self.tmp.unlink()


def check_video_name(path: str | os.PathLike, option: str = "--save-video") -> Path:
    """``path`` if its extension names a video format; a still-image extension (``.png``, ``.jpg``) or none at all
    is a one-line error naming ``option``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raise SiamcanError(f"{option} {path}: '{suffix}' is a still-image format, not a video ({VIDEO_HINT})")
    if not suffix:
        raise SiamcanError(f"{option} {path} has no extension; name the video format (out.mp4, out.gif, out.avi)")
    return path


def h264_encoder() -> str:
    """The H.264 encoder of this PyAV build (``libx264`` in the PyPI wheels)."""
    try:
        import av
    except ImportError:
        raise SiamcanError("writing H.264 video needs PyAV: pip install av (or save a .gif / .avi)") from None
    for name in ("libx264", "libopenh264", "h264"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # not in this build
            continue
    raise SiamcanError("this PyAV build has no H.264 encoder: install the PyPI wheel (pip install av), or save "
                       "a .gif / .avi")


class _H264Writer:
    """Frames (BGR uint8, one size) -> H.264 yuv420p in an MP4/MOV/MKV container, through PyAV."""

    def __init__(self, path: Path, fps: float, fmt: str):
        import av

        encoder = h264_encoder()
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        try:
            self.container = av.open(str(path), "w", format=fmt, options=options)
        except Exception as e:  # an unwritable place
            raise SiamcanError(f"cannot open {path} for writing a video: {e}") from None
        self.rate = Fraction(fps).limit_denominator(1001)
        self.encoder = encoder
        self.stream = None
        self.size = None
        self.index = 0
        self.failed = False  # a write failed (a full disk): the container is closed without another write

    def _open_stream(self, w: int, h: int) -> None:
        import torch

        self.stream = self.container.add_stream(self.encoder, rate=self.rate)
        self.stream.width, self.stream.height = w, h
        self.stream.pix_fmt = "yuv420p"
        if self.encoder == "libx264":
            self.stream.options = {"preset": "veryfast", "crf": "20"}
        self.stream.codec_context.thread_count = torch.get_num_threads()  # --threads: no more than tracking uses
        self.size = (w, h)

    def write(self, img: np.ndarray) -> None:
        import av

        h, w = img.shape[:2]
        if h % 2 or w % 2:  # yuv420p needs even sides: repeat the last row / column
            img = cv2.copyMakeBorder(img, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
            h, w = img.shape[:2]
        if self.stream is None:
            self._open_stream(w, h)
        elif (w, h) != self.size:
            raise SiamcanError(f"video frames change size ({self.size[0]}x{self.size[1]} -> {w}x{h})")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        frame.pts = self.index
        frame.time_base = 1 / self.rate
        self.index += 1
        self._mux(self.stream.encode(frame))

    def _mux(self, packets) -> None:
        try:
            for packet in packets:
                self.container.mux(packet)
        except BaseException:
            self.failed = True
            raise

    def release(self) -> None:
        # After a failed write nothing more goes to the container: if the header could not be written (a full disk),
        # PyAV writes it again at the next packet, and FFmpeg's MP4 muxer then crashes the process (SIGSEGV).
        try:
            if self.stream is not None and not self.failed:
                self._mux(self.stream.encode(None))  # flush the encoder
        finally:
            if not self.failed:
                self.container.close()
            else:  # writes no header (only buffered packets would, and an encoder's stream buffers none)
                try:
                    self.container.close()
                except Exception:  # the trailer of a failed file: the file is removed anyway
                    pass


class _GifWriter:
    """An animated GIF written frame by frame (Pillow's ``save_all`` keeps every frame in memory until the end)."""

    def __init__(self, path: Path, fps: float):
        self.file = open(path, "wb")
        self.duration = max(20, int(round(1000 / fps)))
        self.started = False

    def write(self, frame: np.ndarray, boxes: list) -> None:
        from PIL import GifImagePlugin

        im = gif_frame(frame, boxes)
        if not self.started:
            header, _ = GifImagePlugin.getheader(im, info={"loop": 0, "duration": self.duration})
            self.file.write(b"".join(header))
            self.started = True
        for chunk in GifImagePlugin.getdata(im, duration=self.duration, include_color_table=True):
            self.file.write(chunk)

    def release(self) -> None:
        try:
            if self.started:
                self.file.write(b";")  # GIF trailer
        finally:
            self.file.close()


def gif_frame(frame: np.ndarray, boxes: list):
    """One GIF frame as a palette image: the frame scaled to at most ``GIF_MAX_SIDE`` px and reduced to 61 colours,
    the boxes drawn 2 px wide in three reserved palette entries (so an orange box stays orange)."""
    from PIL import Image

    scale = min(1.0, GIF_MAX_SIDE / max(frame.shape[:2]))
    img = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
    labels = np.zeros(img.shape[:2], np.uint8)
    colors: list[tuple[int, int, int]] = []
    for b, color in boxes:
        if color not in colors:
            colors.append(color)
        x, y, w, h = (v * scale for v in b)
        cv2.rectangle(labels, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))),
                      colors.index(color) + 1, 2)
    rgb = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    pal_img = rgb.quantize(_GIF_COLORS, method=Image.Quantize.FASTOCTREE)  # median cut: 14 ms a frame, this 0.7
    palette = (pal_img.getpalette() or [])[:3 * _GIF_COLORS]
    palette += [0] * (3 * _GIF_COLORS - len(palette))
    idx = np.array(pal_img, dtype=np.uint8)
    for i, (bl, gr, rd) in enumerate(colors[:256 - _GIF_COLORS]):
        palette += [rd, gr, bl]
        idx[labels == i + 1] = _GIF_COLORS + i
    out = Image.frombytes("P", (idx.shape[1], idx.shape[0]), idx.tobytes())
    out.putpalette(palette)
    return out

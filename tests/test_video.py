"""Annotated videos (issue 19, items 5, 6, 9): H.264 MP4 that browsers play, a GIF streamed to disk, the demo's
colours as documented (tracker green, ground truth orange)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from siamcan.cli.main import main
from siamcan.tracking.video import GT_COLOR, TRACK_COLOR, VideoWriter, h264_encoder

av = pytest.importorskip("av")

ORANGE_RGB = (GT_COLOR[2], GT_COLOR[1], GT_COLOR[0])
GREEN_RGB = (TRACK_COLOR[2], TRACK_COLOR[1], TRACK_COLOR[0])


def _frames(n: int, w: int = 160, h: int = 120) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 120, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_pypi_pyav_has_libx264():
    assert h264_encoder() == "libx264"


@pytest.mark.parametrize("name, size", [("v.mp4", (160, 120)), ("odd.mp4", (161, 121)), ("v.mov", (160, 120)),
                                        ("v.mkv", (96, 64))])
def test_h264_yuv420p_output(tmp_path, name, size):
    path = tmp_path / name
    w = VideoWriter(str(path), 25)
    for f in _frames(12, *size):
        w.write(f, [20, 20, 40, 30])
    w.close()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert (s.codec_context.width, s.codec_context.height) == (size[0] + size[0] % 2, size[1] + size[1] % 2)
        assert sum(1 for _ in c.decode(video=0)) == 12
        if name.endswith(".mp4"):
            assert s.average_rate == 25
    cap = cv2.VideoCapture(str(path))  # OpenCV (any player) reads it back too
    assert cap.read()[0]
    cap.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_gif_is_streamed_memory_stays_flat(tmp_path):
    """Frames go to disk as they come: the temp file grows and memory does not. The old writer kept every 320x240
    palette frame until the end (77 kB each: +77 MB over these 1000 frames; 0.8 GB after 3000 frames of a
    sequence)."""
    frame = _frames(1, 480, 360)[0]
    w = VideoWriter(str(tmp_path / "long.gif"), 30)
    sizes, rss = [], []
    for i in range(1000):
        w.write(frame, [100 + i % 50, 100, 60, 60])
        if i in (100, 999):
            sizes.append(w.tmp.stat().st_size)
            rss.append(_rss_mb())
    w.close()
    assert sizes[1] > sizes[0] > 0
    assert rss[1] - rss[0] < 25, rss
    with Image.open(tmp_path / "long.gif") as im:
        assert im.n_frames == 1000 and im.info["loop"] == 0 and im.info["duration"] == 30  # GIF stores centiseconds


def test_demo_colours_mp4_and_gif(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--frames", "8", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "demo.gif" in printed and "demo.mp4" in printed and "orange: ground truth" in printed
    gt = [float(v) for v in (out / "groundtruth.txt").read_text().splitlines()[3].split(",")]
    x, y, w, h = (int(round(v)) for v in gt)
    # MP4: the ground-truth box's left edge is orange (the tracker box may cover other edges)
    with av.open(str(out / "demo.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        frame = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][3]
    edge = frame[y + h // 4:y + 3 * h // 4, x].astype(int)
    orange = (np.abs(edge - np.array(ORANGE_RGB)).max(axis=1) < 40).mean()
    green = (np.abs(edge - np.array(GREEN_RGB)).max(axis=1) < 40).mean()
    assert orange + green > 0.8 and orange > 0.2, (orange, green)
    # GIF: the exact orange and green in the frames (frame 0: the tracker's box is the ground truth, drawn over it)
    with Image.open(out / "demo.gif") as im:
        assert im.n_frames == 8
        for i in range(im.n_frames):
            im.seek(i)
            rgb = np.array(im.convert("RGB"))
            assert i == 0 or (rgb == ORANGE_RGB).all(axis=2).sum() > 20, i
            assert (rgb == GREEN_RGB).all(axis=2).sum() > 20, i

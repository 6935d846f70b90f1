"""Cameras and stream URLs as tracking sources, ``--max-frames``, and the ``Tracker.track`` iterator.

Streams are served from this process over HTTP: a finite MJPG AVI file (read sequentially, so it can be compared with
the same file read from disk) and an endless multipart JPEG stream like an IP camera's (which only Ctrl-C ends).
"""
from __future__ import annotations

import http.server
import itertools
import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamcan import SiamcanError
from siamcan.cli.main import main
from siamcan.cli.track import default_output
from siamcan.fileio import read_boxes
from siamcan.tracking.sources import FrameSource, is_stream, list_images

from conftest import track_then_signal


def _serve(handler_body) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            try:
                handler_body(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.fixture
def human3_avi(human3_30, tmp_path) -> tuple[Path, list[float]]:
    """The first 30 Human3 frames as an MJPG AVI (sequentially readable over plain HTTP)."""
    folder, box = human3_30
    frames = [cv2.imread(str(p)) for p in list_images(folder)]
    path = tmp_path / "human3.avi"
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
    return path, box


@pytest.fixture
def file_server(human3_avi):
    path, _ = human3_avi
    data = path.read_bytes()

    def body(req):
        req.send_response(200)
        req.send_header("Content-Type", "video/x-msvideo")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    srv, url = _serve(body)
    yield f"{url}/clips/human3.avi"
    srv.shutdown()


@pytest.fixture
def endless_camera(human3_30):
    """An IP-camera-like endless MJPEG stream cycling over the 30 Human3 frames."""
    folder, _ = human3_30
    jpegs = [p.read_bytes() for p in list_images(folder)]

    def body(req):
        req.send_response(200)
        req.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        req.end_headers()
        for j in itertools.cycle(jpegs):
            req.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(j) + j + b"\r\n")
            time.sleep(0.005)

    srv, url = _serve(body)
    yield f"{url}/cam.mjpg"
    srv.shutdown()


def test_stream_classification(tmp_path, monkeypatch):
    assert is_stream("0") and is_stream("12")
    assert is_stream("rtsp://10.0.0.2:554/live") and is_stream("HTTP://host/cam.mjpg") and is_stream("udp://@:1234")
    assert not is_stream("clip.mp4") and not is_stream("ftp2://x") and not is_stream("file:///tmp/a.mp4")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "0").mkdir()  # an existing path wins over a camera index
    assert not is_stream("0")
    assert default_output("0", True) == Path("camera0.boxes.txt")
    assert default_output("rtsp://h:554/live/cam1.sdp?x=1", True) == Path("cam1.boxes.txt")
    assert default_output("videos/walk.mp4", False) == Path("walk.boxes.txt")


def test_http_stream_tracks_like_the_file(human3_avi, file_server, tmp_path, capsys):
    """The same AVI read from disk and over HTTP: the same frames, so exactly the same boxes."""
    path, box = human3_avi
    init = ",".join(f"{v:g}" for v in box)
    local, remote = tmp_path / "local.txt", tmp_path / "remote.txt"
    assert main(["track", str(path), "--init", init, "--output", str(local), "--device", "cpu"]) == 0
    assert main(["track", file_server, "--init", init, "--output", str(remote), "--device", "cpu"]) == 0
    a, b = read_boxes(local), read_boxes(remote)
    assert a.shape == (30, 4)
    np.testing.assert_array_equal(a, b)
    assert "tracked 30 frames" in capsys.readouterr().out
    # a stream is read once: a second pass is an error, not silently empty
    src = FrameSource(file_server)
    assert src.stream and src.num_frames == 30 and src.size == (480, 640)
    assert len(list(src)) == 30
    with pytest.raises(SiamcanError, match="read only once"):
        list(src)


def test_max_frames(human3_30, tmp_path, capsys):
    folder, box = human3_30
    out = tmp_path / "b.txt"
    assert main(["track", str(folder), "--init", ",".join(map(str, box)), "--output", str(out),
                 "--max-frames", "7", "--device", "cpu"]) == 0
    assert read_boxes(out).shape == (7, 4)
    assert main(["track", str(folder), "--init", "1,1,5,5", "--max-frames", "0"]) == 2
    assert "--max-frames must be at least 1" in capsys.readouterr().err


def test_no_progress_silences_every_bar(human3_30, tmp_path, capsys, monkeypatch):
    folder, box = human3_30
    init = ",".join(map(str, box))
    monkeypatch.setenv("TQDM_DISABLE", "")  # restored after the test (main sets it for --no-progress)
    assert main(["track", str(folder), "--init", init, "--output", str(tmp_path / "a.txt"), "--max-frames", "3"]) == 0
    assert "track: 100%" in capsys.readouterr().err
    assert main(["--no-progress", "track", str(folder), "--init", init, "--output", str(tmp_path / "b.txt"),
                 "--max-frames", "3"]) == 0
    out = capsys.readouterr()
    assert "track:" not in out.err and "tracked 3 frames" in out.out  # the summary stays
    assert os.environ["TQDM_DISABLE"] == "1"  # inherited by eval workers and DDP processes


def test_init_from_a_box_file(human3_30, dev_otb, tmp_path, capsys):
    """``--init groundtruth_rect.txt`` takes the first box (x,y,w,h, or a VOT polygon's init rectangle)."""
    from siamcan.cli.track import init_box
    from siamcan.evaluation.geometry import polygon_to_init_rect

    folder, box = human3_30
    gt = dev_otb / "Human3" / "groundtruth_rect.txt"
    assert init_box(str(gt)) == box
    vot = tmp_path / "groundtruth.txt"
    vot.write_text("\n10,20,50,20,50,60,10,60\n11,21,51,21,51,61,11,61\n")
    # pysot's init rectangle of an axis-aligned polygon: w = x2 - x1 + 1
    assert init_box(str(vot)) == polygon_to_init_rect([10, 20, 50, 20, 50, 60, 10, 60]) == [10, 20, 41, 41]
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    assert main(["track", str(folder), "--init", str(gt), "--output", str(a), "--max-frames", "5"]) == 0
    assert main(["track", str(folder), "--init", ",".join(map(str, box)), "--output", str(b), "--max-frames", "5"]) == 0
    np.testing.assert_array_equal(read_boxes(a), read_boxes(b))
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3\n")
    assert main(["track", str(folder), "--init", str(bad)]) == 2
    assert "must be x,y,w,h or a VOT polygon (8 values), got 3" in capsys.readouterr().err


def test_missing_camera_and_dead_url_are_user_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["track", "57", "--init", "1,1,5,5"]) == 2
    assert "cannot open camera 57" in capsys.readouterr().err
    srv, url = _serve(lambda req: req.send_error(404))
    try:
        assert main(["track", f"{url}/nothing.mjpg", "--init", "1,1,5,5"]) == 2
    finally:
        srv.shutdown()
    err = capsys.readouterr().err
    assert "cannot open stream http://" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written
    from siamcan import Tracker

    with pytest.raises(SiamcanError, match="cannot open camera 57"):  # the Python API takes an int index too
        next(Tracker.from_pretrained(device="cpu").track(57, (1, 1, 5, 5)))


def test_ctrl_c_ends_an_endless_stream_and_keeps_every_box(endless_camera, human3_30, tmp_path):
    """A camera has no end: SIGINT stops it normally (exit 0), and the boxes and the video cover every frame read."""
    _, box = human3_30
    out, video = tmp_path / "cam.txt", tmp_path / "cam.mp4"
    rc, msg, err = track_then_signal([endless_camera, "--init", ",".join(map(str, box)), "--output", out,
                                      "--save-video", video, "--device", "cpu"], signal.SIGINT,
                                     min_frames=45)  # past the 30 frames served in one cycle
    assert rc == 0, err
    assert "stopped by interrupt" in msg and "Traceback" not in err
    n = int(msg.split("tracked ")[1].split(" frames")[0])
    boxes = read_boxes(out)
    assert n >= 45 and boxes.shape == (n, 4)
    assert np.isfinite(boxes).all()
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames in (n - 1, n)  # a Ctrl-C between a box and its frame being written costs at most that frame


def test_tracker_track_iterator(human3_30):
    """``Tracker.track`` = init + update per frame; an undecodable frame (None) carries the box with a NaN score."""
    from siamcan import Tracker

    folder, box = human3_30
    frames = [cv2.imread(str(p)) for p in list_images(folder)][:8]
    ref = Tracker.from_pretrained(device="cpu")
    ref.init(frames[0], box)
    expected = [list(map(float, box))] + [ref.update(f)[0] for f in frames[1:]]

    tracker = Tracker.from_pretrained(device="cpu")
    steps = list(tracker.track(folder, box, max_frames=8))
    assert [s.index for s in steps] == list(range(8))
    np.testing.assert_allclose([s.box for s in steps], expected, atol=1e-9)
    assert steps[0].score == 1.0 and all(0 <= s.score <= 1 and s.seconds > 0 for s in steps[1:])

    with pytest.raises(SiamcanError, match="max_frames must be a positive integer"):
        next(tracker.track(folder, box, max_frames=0))
    with_gap = list(tracker.track(frames[:3] + [None] + frames[4:6], box))
    assert with_gap[3].frame is None and np.isnan(with_gap[3].score) and with_gap[3].box == with_gap[2].box
    assert len(with_gap) == 6

"""The local web page (issue 24): ``siamcan track SOURCE`` without ``--init`` and ``siamcan view``.

The server runs as the user runs it - ``siamcan track CLIP --init browser --no-browser`` in a child process - and is
talked to over 127.0.0.1: plain HTTP for the security rules, Debian's headless Chromium (``/usr/bin/chromium``)
driven by Playwright for the page itself. The clip is the built-in demo clip (:mod:`siamcan.demo`), written as an
MJPG AVI, so nothing from ../shared is needed.

Browser tests skip when Chromium or Playwright is absent (a plain clone); ``SIAMCAN_REQUIRE_BROWSER=1`` (set by
.ci/run, which installs Chromium) turns that skip into a failure. ``SIAMCAN_SCREENSHOTS=1`` writes the README's
screenshots to docs/img/ (normal runs leave the checkout untouched). Every wait is bounded, and every child server
is ended (SIGINT, then kill) whatever happens.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CliChild, run_child

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SIAMCAN_CHROMIUM", "/usr/bin/chromium")
CLIP_FRAMES = 30
START_TIMEOUT = 120  # s: the child imports torch and loads the model before it prints its URL


def _env() -> dict:
    env = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The demo clip as an MJPG AVI (every frame a key frame: exact seeks) and its ground-truth boxes."""
    from siamcan.demo import iter_clip

    folder = tmp_path_factory.mktemp("clip")
    path = folder / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (480, 360))
    gt = []
    for frame, box in iter_clip(CLIP_FRAMES):
        writer.write(frame)
        gt.append(box)
    writer.release()
    assert path.stat().st_size > 0
    return path, np.array(gt)


@contextlib.contextmanager
def server(args: list[str], cwd: Path, stdin=None):
    """``siamcan ARGS --no-browser`` in a child process (conftest's CliChild: bounded waits, killed on failure);
    yields ``(url, child)``; always ends it, with SIGINT first as a user would."""
    with CliChild([*args, "--no-browser"], cwd=cwd, stdin=stdin, env=_env()) as child:
        try:
            line = child.first_line(START_TIMEOUT)
            m = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=([\w-]+)", line)
            assert m, f"no URL in the first line: {line!r}; stderr: {child.err.decode(errors='replace')}"
            yield m.group(0), child
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(20)
                except subprocess.TimeoutExpired:
                    child.kill()


def _get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ------------------------------------------------------------------ command line, no browser
def test_no_init_without_a_terminal_fails_at_once_naming_both_ways(clip, tmp_path):
    path, _ = clip
    proc = run_child([sys.executable, "-m", "siamcan.cli.main", "track", str(path)], 120, cwd=tmp_path, env=_env())
    assert proc.returncode == 2
    err = proc.stderr.decode()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--init X,Y,W,H" in lines[0] and "--init browser" in lines[0], err
    assert proc.stdout == b"" and not list(tmp_path.iterdir())  # nothing started, nothing written


def test_companion_names_never_overwrite_the_source():
    from siamcan.fileio import companion

    assert companion(Path("out/video.boxes.txt"), ".track.mp4") == Path("out/video.track.mp4")
    assert companion(Path("b.txt"), ".scores.txt") == Path("b.scores.txt")


@pytest.mark.slow
def _finished_run(base: str, token: str, timeout: float = 120.0) -> dict:
    """Poll the page's progress until the run ends (bounded), then its result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(_get(f"{base}/api/progress?token={token}")[1])
        if state["state"] != "running":
            break
        time.sleep(0.2)
    assert state["state"] == "done", state
    return json.loads(_get(f"{base}/api/result?token={token}")[1])


def test_server_in_a_terminal(clip, tmp_path):
    """stdin a terminal (a pty), no --init: one line with the URL, then it waits. Token on every request (none,
    wrong, another port's cookie), loopback Host only, body limit, no path reaches the file system. A run from a
    later frame (the slider's) over the API: the boxes file has one line per frame from there, the first the box,
    the MOT rows carry the source's frame numbers. Ctrl-C ends the server cleanly."""
    import pty
    import time

    from siamcan.web.server import MAX_BODY

    path, gt = clip
    master, slave = pty.openpty()
    try:
        with server(["track", str(path), "--threads", "1"], tmp_path, stdin=slave) as (url, proc):
            base, token = url.split("/?token=")
            assert proc.poll() is None  # waiting for the page
            info = json.loads(_get(f"{base}/api/info?token={token}")[1])
            assert (info["width"], info["height"], info["frames"]) == (480, 360, CLIP_FRAMES)
            status, body = _get(f"{base}/api/frame/3?token={token}")
            assert status == 200 and body[:2] == b"\xff\xd8"  # a JPEG
            jpeg = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert jpeg.shape == (360, 480, 3)
            wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
            for bad in (f"{base}/api/info", f"{base}/api/info?token={wrong}", f"{base}/?token=",
                        f"{base}/static/track.html", f"{base}/files/boxes"):
                assert _get(bad)[0] == 403, bad
            assert _get(f"{base}/api/info", headers={"Cookie": f"siamcan_1={token}"})[0] == 403  # another port's
            assert _get(f"{base}/api/info?token={token}", headers={"Host": "evil.example:80"})[0] == 403
            assert _get(f"{base}/api/info?token={token}", headers={"Host": "127.0.0.1.evil.example"})[0] == 403
            assert _get(f"{base}/api/info?token={token}", headers={"Host": "localhost:9000"})[0] == 200  # ssh -L
            for escape in ("/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
                           "/static/style.css/../x", "/files/..%2fclip.avi", "/files/video", "/api/frame/999"):
                status, body = _get(f"{base}{escape}?token={token}")
                assert status == 404 and b"root:" not in body, escape
            status, _ = _get(f"{base}/api/track?token={token}", data=b" " * (MAX_BODY + 1),
                             headers={"Content-Type": "application/json"})
            assert status == 413
            status, body = _get(f"{base}/api/track?token={token}", data=json.dumps({"boxes": [[1, 2, 0, 5]]}).encode())
            assert status == 400 and b"positive width" in body
            status, body = _get(f"{base}/api/track?token={token}",
                                data=json.dumps({"boxes": [[1, 2, 30, 40]] * 33}).encode())
            assert status == 400 and b"at most 32 objects" in body
            assert not list(tmp_path.iterdir())  # nothing written before Track
            # a run from frame 6 (0-based 5), as the slider starts it
            start = 5
            box = [int(round(v)) for v in gt[start]]
            status, body = _get(f"{base}/api/track?token={token}",
                                data=json.dumps({"boxes": [box], "start": start}).encode())
            assert status == 202, body
            result = _finished_run(base, token)
            assert result["start"] == start and result["frames"] == CLIP_FRAMES - start
            assert result["command"] is None  # no command-line equivalent for a later start frame
            status, mot = _get(f"{base}/files/mot?token={token}")
            assert mot.decode().splitlines()[0].startswith(f"{start + 1},1,")
            assert _get(f"{base}/files/video?token={token}")[0] == 200
            single_scores = (tmp_path / "clip.scores.txt").read_text().splitlines()  # the next run rewrites it
            # two boxes from the first frame: siamcan.MultiTracker, the MOT file the command writes
            two = [[int(round(v)) for v in gt[0]], [20, 20, 60, 50]]
            status, body = _get(f"{base}/api/track?token={token}", data=json.dumps({"boxes": two}).encode())
            assert status == 202, body
            result = _finished_run(base, token)
            assert [t["id"] for t in result["targets"]] == [1, 2] and result["files"]["mot"].endswith("clip.mot.txt")
            assert result["command"].count("--init") == 2
            status, mot = _get(f"{base}/files/mot?token={token}")
            assert status == 200 and mot == (tmp_path / "clip.mot.txt").read_bytes()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0
            assert "server stopped" in proc.err.decode()
    finally:
        os.close(master)
        os.close(slave)
    rows = (tmp_path / "clip.boxes.txt").read_text().splitlines()
    assert len(rows) == CLIP_FRAMES - start and [float(v) for v in rows[0].split(",")] == box
    # the command with the same two boxes writes the same MOT file
    from siamcan.cli.main import main

    assert main(["track", str(path), "--init", ",".join(map(str, two[0])), "--init", ",".join(map(str, two[1])),
                 "--output", str(tmp_path / "cli.mot.txt"), "--threads", "1", "--no-progress"]) == 0
    assert (tmp_path / "cli.mot.txt").read_bytes() == (tmp_path / "clip.mot.txt").read_bytes()
    assert len(single_scores) == CLIP_FRAMES - start
    assert len((tmp_path / "clip.scores.txt").read_text().splitlines()) == 2 * CLIP_FRAMES  # frame,id rows


def test_a_browser_is_opened_only_where_there_is_one(monkeypatch):
    from siamcan.web import server as web_server

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert web_server.browser_available() is False  # a server over ssh: print the URL only


# ------------------------------------------------------------------ the page in Chromium
@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright (no ``playwright install``: the system browser)."""
    required = os.environ.get("SIAMCAN_REQUIRE_BROWSER", "") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("SIAMCAN_REQUIRE_BROWSER=1 but playwright is not installed (pip install -e '.[dev]')")
        pytest.skip("playwright not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).is_file():
        if required:
            pytest.fail(f"SIAMCAN_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; SIAMCAN_CHROMIUM names another)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=60_000)
        try:
            yield b
        finally:
            b.close()


def _screenshot(page, name: str) -> None:
    if os.environ.get("SIAMCAN_SCREENSHOTS", "") == "1":
        page.screenshot(path=str(REPO / "docs" / "img" / name))


@pytest.mark.slow
@pytest.mark.browser
def test_draw_track_and_watch_in_chromium(browser, clip, tmp_path):
    """Draw the first frame's box with the mouse, press Track, wait for the video (it must decode in Chromium), and
    the boxes and scores equal those of ``siamcan track --init`` with the same box."""
    import shutil

    path, gt = clip
    box = [int(round(v)) for v in gt[0]]
    shutil.copy2(path, tmp_path / "clip.avi")  # the page and the command both read ../clip.avi
    web = tmp_path / "web"
    web.mkdir()
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))  # CSP violations, failed loads
    try:
        with server(["track", "../clip.avi", "--init", "browser", "--threads", "1"], web) as (url, proc):
            page.goto(url, timeout=30_000)
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            assert page.evaluate("document.getElementById('slider').max") == str(CLIP_FRAMES - 1)
            r = page.locator("#canvas").bounding_box()
            border = page.evaluate("document.getElementById('canvas').clientLeft")
            s = page.evaluate("document.getElementById('canvas').clientWidth") / 480
            x0, y0 = r["x"] + border, r["y"] + border
            # a first box drawn somewhere else, then deleted; then the real one (drawing, editing, deleting)
            page.mouse.move(x0 + 10 * s, y0 + 10 * s)
            page.mouse.down()
            page.mouse.move(x0 + 60 * s, y0 + 50 * s, steps=4)
            page.mouse.up()
            assert page.locator("#boxes li").count() == 1
            page.click("#boxes li button")
            assert page.locator("#boxes li").count() == 0
            page.mouse.move(x0 + (box[0] + 0.2) * s, y0 + (box[1] + 0.2) * s)
            page.mouse.down()
            page.mouse.move(x0 + (box[0] + box[2] + 0.2) * s, y0 + (box[1] + box[3] + 0.2) * s, steps=6)
            page.mouse.up()
            text = page.inner_text("#boxes li span")
            drawn = [int(v) for v in text.split(": ")[1].split(",")]
            assert np.abs(np.array(drawn) - box).max() <= 1, (drawn, box)
            _screenshot(page, "web-track-draw.png")
            page.click("#track")
            page.wait_for_selector("body[data-result='1']", timeout=120_000)
            page.wait_for_function("() => document.getElementById('video').readyState >= 2", timeout=60_000)
            video = page.evaluate("(() => { const v = document.getElementById('video');"
                                  " return [v.videoWidth, v.videoHeight, v.duration, v.error && v.error.message]; })()")
            assert video[:2] == [480, 360] and video[3] is None, video
            assert abs(video[2] - CLIP_FRAMES / 15) < 0.2
            page.evaluate("document.getElementById('video').play()")  # it plays (muted) in Chromium
            page.wait_for_function("() => document.getElementById('video').currentTime >= 1.0", timeout=30_000)
            page.evaluate("document.getElementById('video').pause()")
            page.wait_for_timeout(300)
            _screenshot(page, "web-track-result.png")
            assert "frames/s" in page.inner_text("#progress-panel")
            command = page.inner_text("#cmd")
            base, token = url.split("/?token=")
            status, mot = _get(f"{base}/files/mot?token={token}&download=1")
            assert status == 200
        assert not errors, errors
        files = {p.name for p in web.iterdir()}
        assert {"clip.boxes.txt", "clip.track.mp4", "clip.scores.txt"} <= files, files
        # the same run from the command line, with the command the page shows
        cli = tmp_path / "cli"
        cli.mkdir()
        assert f"--init {','.join(str(v) for v in drawn)}" in command
        argv = shlex.split(command)[2:]
        proc = run_child([sys.executable, "-m", "siamcan.cli.main", "track", *argv], 300, cwd=cli, env=_env())
        assert proc.returncode == 0, proc.stderr.decode()
        assert (cli / "clip.boxes.txt").read_text() == (web / "clip.boxes.txt").read_text()
        assert (cli / "clip.scores.txt").read_text() == (web / "clip.scores.txt").read_text()
        rows = (web / "clip.boxes.txt").read_text().splitlines()
        assert len(rows) == CLIP_FRAMES and [float(v) for v in rows[0].split(",")] == drawn
        mot_rows = mot.decode().splitlines()
        assert len(mot_rows) == CLIP_FRAMES and mot_rows[0].startswith("1,1,")
        assert [float(v) for v in mot_rows[5].split(",")[2:6]] == pytest.approx(
            [float(v) for v in rows[5].split(",")], abs=0.006)
        # the tracker followed the face on this clip (the page ran a real tracker, not a stub)
        from siamcan.evaluation.metrics import success_curve

        pred = np.array([[float(v) for v in r.split(",")] for r in rows])
        assert success_curve(gt, pred).mean() > 0.5
    finally:
        page.close()


def _mini_otb(root: Path, gt_clip: np.ndarray, frames: list) -> Path:
    """An OTB-layout dataset of two sequences cut from the demo clip, and a results folder for tracker 'demo'."""
    data = root / "mini"
    results = root / "results" / "mini" / "demo"
    results.mkdir(parents=True)
    for name, n, shift in (("good", 12, 2.0), ("poor", 10, 40.0)):
        img = data / name / "img"
        img.mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(img / f"{i + 1:04d}.jpg"), frames[i])
        gt = gt_clip[:n]
        (data / name / "groundtruth_rect.txt").write_text("".join(",".join(f"{v:g}" for v in b) + "\n" for b in gt))
        pred = gt + np.array([shift, 0, 0, 0])
        (results / f"{name}.txt").write_text("".join(",".join(f"{v:.2f}" for v in b) + "\n" for b in pred))
        (results / f"{name}_confidence.value").write_text("\n" + "0.8\n" * (n - 1))
    return data


@pytest.mark.slow
@pytest.mark.browser
def test_view_an_eval_folder_in_chromium(browser, tmp_path):
    """``siamcan view RESULTS --dataset D --format otb``: the table sorted by AUC, a row opens its sequence with the
    ground truth, tracker boxes, IoU and confidence plots."""
    from siamcan.demo import generate_clip

    frames, gt = generate_clip(12)
    data = _mini_otb(tmp_path, gt, frames)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))  # CSP violations, failed loads
    try:
        with server(["view", str(tmp_path / "results"), "--dataset", str(data), "--format", "otb"], tmp_path) as (
                url, _):
            page.goto(url, timeout=30_000)
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            names = page.locator("#seqs tbody tr td:first-child").all_inner_texts()
            assert names == ["good", "poor"]  # by AUC, best first
            aucs = [float(v) for v in page.locator("#seqs tbody tr td:nth-child(2)").all_inner_texts()]
            assert aucs[0] > aucs[1]
            page.click("#seqs tbody tr:nth-child(2)")
            page.wait_for_function("() => document.getElementById('seq-name').textContent.startsWith('poor')",
                                   timeout=30_000)
            assert page.locator("#iou-plot canvas").count() == 1 and page.locator("#conf-plot canvas").count() == 1
            page.click("#seqs tbody tr:nth-child(1)")
            page.wait_for_function("() => document.getElementById('seq-name').textContent.startsWith('good')",
                                   timeout=30_000)
            page.locator("#slider").fill("6")
            page.wait_for_function("() => document.getElementById('frame-label').textContent.startsWith('7 /')",
                                   timeout=30_000)
            label = page.inner_text("#frame-label")
            assert "IoU" in label
            _screenshot(page, "web-view.png")
            base, token = url.split("/?token=")
            seq = json.loads(_get(f"{base}/api/sequence/0?token={token}")[1])
            from siamcan.evaluation.geometry import box_iou

            expected = box_iou(gt[:12], gt[:12] + np.array([2.0, 0, 0, 0]))
            assert seq["name"] == "good" and np.allclose(seq["iou"], expected, atol=1e-4)
        assert not errors, errors
    finally:
        page.close()


# ------------------------------------------------------------------ siamcan view: inputs, without a server
def test_view_of_a_boxes_file_scores_against_the_ground_truth(clip, tmp_path):
    """The track page's files (``<name>.boxes.txt`` + ``<name>.scores.txt``) over the clip: IoU per frame from the
    evaluation's box_iou, the scores file picked up beside the boxes, AUC / precision from the metrics."""
    from siamcan.evaluation.geometry import box_iou
    from siamcan.evaluation.metrics import precision_curve, success_curve
    from siamcan.web.view import from_boxes_file

    path, gt = clip
    pred = gt + np.array([3.0, -2.0, 4.0, 0.0])
    boxes = tmp_path / "clip.boxes.txt"
    boxes.write_text("".join(",".join(f"{v:.4f}" for v in b) + "\n" for b in pred))
    (tmp_path / "clip.scores.txt").write_text("1.0000,0\n" + "0.2000,1\n" * (CLIP_FRAMES - 1))
    (tmp_path / "gt.txt").write_text("".join(",".join(f"{v:g}" for v in b) + "\n" for b in gt))
    (seq,) = from_boxes_file(str(boxes), str(path), str(tmp_path / "gt.txt"))
    data = seq.as_json()
    assert data["frames"] == CLIP_FRAMES and (data["width"], data["height"]) == (480, 360)
    assert np.allclose(data["iou"], box_iou(gt, pred), atol=1e-4)
    assert data["confidence"][:2] == [1.0, 0.2] and data["lost"][:2] == [False, True]
    assert data["scores"]["auc"] == pytest.approx(success_curve(gt, pred).mean())
    assert data["scores"]["precision"] == pytest.approx(precision_curve(gt, pred)[20])
    assert seq.reader.jpeg(CLIP_FRAMES - 1)[:2] == b"\xff\xd8"
    seq.reader.close()


def test_view_of_fewer_boxes_than_frames_says_so(clip, tmp_path, capsys):
    """Boxes of the first frames only (tracked with --max-frames): a note, and those frames shown and scored."""
    from siamcan.evaluation.metrics import success_curve
    from siamcan.web.view import from_boxes_file

    path, gt = clip
    boxes = tmp_path / "first.boxes.txt"
    boxes.write_text("".join(",".join(f"{v:.4f}" for v in b) + "\n" for b in gt[:5]))
    (tmp_path / "gt.txt").write_text("".join(",".join(f"{v:g}" for v in b) + "\n" for b in gt))
    (seq,) = from_boxes_file(str(boxes), str(path), str(tmp_path / "gt.txt"))
    assert f"has 5 boxes for the {CLIP_FRAMES} frames of {path}; showing its first 5 frames" in capsys.readouterr().err
    data = seq.as_json()
    assert data["frames"] == 5 and data["scores"]["auc"] == pytest.approx(success_curve(gt[:5], gt[:5]).mean())
    seq.reader.close()


def test_view_bad_input_is_one_line(clip, tmp_path, capsys):
    from siamcan.cli.main import main

    path, _ = clip
    boxes = tmp_path / "b.txt"
    boxes.write_text("1,2,3,4\n" * (CLIP_FRAMES + 5))
    cases = [(["view", str(tmp_path / "missing.txt")], "results not found"),
             (["view", str(boxes)], "needs --source"),
             (["view", str(boxes), "--source", str(path)], f"only {CLIP_FRAMES} frames"),
             (["view", str(tmp_path)], "needs --dataset")]
    for argv, needle in cases:
        assert main(argv + ["--no-browser"]) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err

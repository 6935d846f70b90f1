"""``siamcan track SOURCE`` without ``--init``: draw the box(es) on a frame in the browser, track, watch the result.

The page (``static/track.html``) asks for a frame (``/api/frame/{i}``), posts the boxes (``POST /api/track``), polls
``/api/progress`` and then reads ``/api/result`` and plays ``/files/video``. Tracking runs in a worker thread through
:func:`siamcan.cli.track.track_to_files`, the same function the command runs with ``--init``, so the page writes
exactly the files the command line writes (the page shows that command).
"""
from __future__ import annotations

import argparse
import itertools
import math
import shlex
import threading
import time
from pathlib import Path

from ..errors import SiamcanError
from ..fileio import companion, format_mot
from .frames import FrameReader

# Targets one run may track: several go through siamcan.MultiTracker (one batched network call per frame), as
# ``siamcan track --init ... --init ...`` does; a bound keeps one request from asking for thousands.
MAX_TARGETS = 32


class _FromFrame:
    """A file or folder source that starts at frame ``start`` (the frame the box was drawn on)."""

    def __init__(self, source, start: int):
        self.source, self.start = source, start
        self.stream, self.fps, self.size = source.stream, source.fps, source.size

    def __len__(self) -> int:
        return max(len(self.source) - self.start, 0)

    def __iter__(self):
        return itertools.islice(iter(self.source), self.start, None)

    def frame_name(self, i: int) -> str:
        return self.source.frame_name(i + self.start)

    def close(self) -> None:
        self.source.close()


class TrackSession:
    """One ``siamcan track`` page: the source, the loaded tracker, where the outputs go, and the state of the run."""

    def __init__(self, args: argparse.Namespace, source, tracker, output: Path, track_to_files):
        """``track_to_files(args, source, tracker, box, output, on_step=...)``: the command's own tracking and
        writing (:func:`siamcan.cli.track.track_to_files`)."""
        self.args, self.source, self.tracker, self.output = args, source, tracker, Path(output)
        self.track_to_files = track_to_files
        self.video = Path(args.save_video) if args.save_video else companion(self.output, ".track.mp4")
        self.scores = Path(args.scores) if args.scores else companion(self.output, ".scores.txt")
        if self.video.suffix.lower() not in (".mp4", ".m4v", ".mov", ".webm") and args.save_video:
            raise SiamcanError(f"--save-video {self.video}: the page plays .mp4 (H.264); use a name ending in .mp4")
        if source.path is not None:
            src = source.path.resolve()
            for p in (self.output, self.video, self.scores):
                if p.resolve() == src:
                    raise SiamcanError(f"{p} is the source itself; choose another output name")
        self.frames = FrameReader(source)
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self.used_stream = False
        self.state = {"state": "idle", "done": 0, "total": len(source) or None, "fps": None, "message": ""}
        self.result: dict | None = None
        self.written = self.output  # the boxes file of the last run (the MOT file for several targets)

    # ------------------------------------------------------------------ what the page reads
    def info(self) -> dict:
        s = self.source
        return {"mode": "track", "source": str(s.name), "frames": len(s) or None, "width": s.size[0],
                "height": s.size[1], "fps": s.fps, "stream": bool(s.stream), "max_targets": MAX_TARGETS,
                "outputs": {"boxes": str(self.output.absolute()), "video": str(self.video.absolute()),
                            "scores": str(self.scores.absolute())}}

    def progress(self) -> dict:
        with self.lock:
            return dict(self.state)

    # ------------------------------------------------------------------ actions
    def start(self, boxes, start_frame) -> None:
        """Check the request and start tracking in a worker thread; a SiamcanError names what is wrong."""
        from ..tracking.tracker import check_box

        if not isinstance(boxes, list) or not boxes:
            raise SiamcanError("draw a box around the object first")
        if len(boxes) > MAX_TARGETS:
            raise SiamcanError(f"{len(boxes)} boxes drawn, but one run tracks at most {MAX_TARGETS} objects; delete "
                               "some")
        if not isinstance(start_frame, int) or isinstance(start_frame, bool) or start_frame < 0:
            raise SiamcanError(f"start frame must be a frame number, got {start_frame!r}")
        if self.source.stream and start_frame:
            raise SiamcanError("a camera or stream starts at its first frame")
        if len(self.source) and start_frame >= len(self.source):
            raise SiamcanError(f"start frame {start_frame} is past the last frame ({len(self.source) - 1})")
        checked = [list(check_box(b, (self.source.size[1], self.source.size[0]))) for b in boxes]
        with self.lock:
            if self.state["state"] == "running":
                raise SiamcanError("tracking is already running")
            if self.source.stream and self.used_stream:
                raise SiamcanError("a camera or stream can be tracked once per page; start siamcan track again")
            self.used_stream = self.source.stream
            self.cancel.clear()
            total = (len(self.source) - start_frame) if len(self.source) else None
            if self.args.max_frames:
                total = min(total, self.args.max_frames) if total else self.args.max_frames
            self.state = {"state": "running", "done": 0, "total": total, "fps": None, "message": ""}
            self.result = None
        self.thread = threading.Thread(target=self._work, args=(checked, start_frame), name="siamcan-track",
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """The page's Stop button, or the server shutting down: a file stops without outputs (as Ctrl-C), a
        camera or stream ends normally with what was read."""
        self.cancel.set()

    def join(self, timeout: float = 10.0) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def command(self, boxes: list, output: Path, start_frame: int) -> str | None:
        """The ``siamcan track`` command line that writes the same files, or None (a start frame other than the
        first has no command-line equivalent)."""
        if start_frame:
            return None
        a = self.args
        parts = ["siamcan", "track", str(a.source)]
        for box in boxes:
            parts += ["--init", ",".join(f"{v:g}" for v in box)]
        parts += ["--output", str(output), "--save-video", str(self.video), "--scores", str(self.scores)]
        for opt, val in (("--model", a.model), ("--weights", a.weights), ("--device", a.device),
                         ("--max-frames", a.max_frames), ("--onnx-dir", a.onnx_dir), ("--threads", a.threads)):
            if val is not None:
                parts += [opt, str(val)]
        if a.backend != "auto":
            parts += ["--backend", a.backend]
        if a.redetect is not None:
            parts.append("--redetect" if a.redetect else "--no-redetect")
        return shlex.join(parts)

    def _work(self, boxes: list, start_frame: int) -> None:
        args = argparse.Namespace(**vars(self.args))
        args.save_video, args.scores = str(self.video), str(self.scores)
        source = _FromFrame(self.source, start_frame) if start_frame else self.source
        t0 = time.perf_counter()

        def on_step(step) -> None:
            done = step.index + 1
            elapsed = time.perf_counter() - t0
            with self.lock:
                self.state["done"] = done
                self.state["fps"] = done / elapsed if elapsed > 0 else None
            if self.cancel.is_set():
                raise KeyboardInterrupt  # as Ctrl-C in the command: a file leaves no outputs, a stream keeps them

        # several targets: the MOT file the command writes for them (<name>.mot.txt unless --output names it)
        output = self.output if len(boxes) == 1 or self.args.output else companion(self.output, ".mot.txt")
        try:
            outcome = self.track_to_files(args, source, self.tracker, boxes, output, on_step=on_step)
        except KeyboardInterrupt:
            with self.lock:
                self.state.update(state="cancelled", message="stopped: a file that is not tracked to its end "
                                                             "leaves no outputs (as Ctrl-C in the command)")
            return
        except SiamcanError as e:
            with self.lock:
                self.state.update(state="error", message=str(e))
            return
        except Exception as e:  # noqa: BLE001 - shown on the page, one line, and the server keeps running
            with self.lock:
                self.state.update(state="error", message=f"{type(e).__name__}: {e}")
            return
        n = len(outcome.frames)
        targets = []
        for k, (tid, *_rest) in enumerate(outcome.frames[0] if outcome.frames else []):
            rows = [ts[k] for ts in outcome.frames]
            targets.append({"id": tid, "boxes": [list(r[1]) for r in rows],
                            "confidence": [None if not math.isfinite(r[2]) else round(float(r[2]), 4) for r in rows],
                            "lost": [bool(r[3]) for r in rows]})
        result = {
            "targets": targets,
            "start": start_frame, "frames": n, "fps": self.source.fps,
            "tracking_fps": None if not math.isfinite(outcome.fps) else outcome.fps,
            "carried": outcome.carried, "stopped": outcome.stopped,
            "files": {"boxes" if len(boxes) == 1 else "mot": str(output.absolute()),
                      "video": str(self.video.absolute()), "scores": str(self.scores.absolute())},
            "command": self.command(boxes, output, start_frame),
        }
        with self.lock:
            self.written = output
            self.result = result
            self.state.update(state="done", done=n, message="")

    # ------------------------------------------------------------------ downloads
    def mot_text(self) -> str:
        """MOTChallenge rows ``frame,id,x,y,w,h,conf,-1,-1,-1`` (frame numbers of the source, 1-based); for several
        targets the command's own MOT file is served instead (its frames count from the start frame)."""
        if self.result is None:
            raise SiamcanError("no result yet")
        start = self.result["start"]
        rows = [(start + i + 1, t["id"], b, 1.0 if c is None else c) for t in self.result["targets"]
                for i, (b, c) in enumerate(zip(t["boxes"], t["confidence"]))]
        return format_mot(sorted(rows, key=lambda r: (r[0], r[1])))


def routes(session: TrackSession) -> list:
    """The API of the track page. Files are served under fixed keys; no request path names a file."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from .server import json_response

    async def info(request):
        return json_response(session.info())

    async def frame(request):
        try:
            i = int(request.path_params["i"])
            data = await run_in_threadpool(session.frames.jpeg, i)
        except (ValueError, SiamcanError) as e:
            return PlainTextResponse(str(e), status_code=404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def track(request):
        try:
            body = await request.json()
        except ValueError:
            return json_response({"error": "the request body must be JSON"}, 400)
        if not isinstance(body, dict):
            return json_response({"error": "the request body must be a JSON object"}, 400)
        try:
            session.start(body.get("boxes"), body.get("start", 0))
        except SiamcanError as e:
            return json_response({"error": str(e)}, 400)
        return json_response({"ok": True}, 202)

    async def stop(request):
        session.stop()
        return json_response({"ok": True})

    async def progress(request):
        return json_response(session.progress())

    async def result(request):
        if session.result is None:
            return json_response({"error": "no result yet"}, 404)
        return json_response(session.result)

    async def files(request):
        key = request.path_params["key"]
        download = request.query_params.get("download") == "1"
        if session.result is None:
            return PlainTextResponse("no result yet", status_code=404)
        if key == "mot" and len(session.result["targets"]) > 1:  # the MOT file the run wrote
            key = "boxes"
        if key == "mot":
            name = companion(session.output, ".mot.txt").name
            headers = {"Content-Disposition": f'attachment; filename="{name}"'} if download else {}
            return PlainTextResponse(session.mot_text(), headers=headers)
        paths = {"boxes": session.written, "video": session.video, "scores": session.scores}
        if key not in paths:
            return PlainTextResponse("not found", status_code=404)
        path = paths[key]
        if not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        media = "video/mp4" if key == "video" else "text/plain; charset=utf-8"
        return FileResponse(path, media_type=media, filename=path.name if download else None,
                            content_disposition_type="attachment" if download else "inline")

    return [Route("/api/info", info), Route("/api/frame/{i:int}", frame), Route("/api/track", track, methods=["POST"]),
            Route("/api/stop", stop, methods=["POST"]), Route("/api/progress", progress),
            Route("/api/result", result), Route("/files/{key}", files)]

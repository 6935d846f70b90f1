"""The local web server behind ``siamcan track`` (no ``--init``) and ``siamcan view``: a small Starlette app run by
uvicorn on 127.0.0.1.

Security model (SPEC of issue 24):

* it listens on 127.0.0.1 only, on a free port unless ``--port`` names one;
* every request must carry this run's random token (``?token=...``, 32 bytes from :mod:`secrets`, or the HttpOnly,
  SameSite=Strict cookie set when the page is opened with it, so its own files, ``<video>`` and downloads carry it),
  else 403; the ``Host`` header must name the loopback address (no DNS rebinding);
* no part of a request path reaches the file system: the page's own files are a fixed table read from the package
  at start-up, a run's files are served under fixed keys that map to paths chosen by the command line;
* request bodies larger than :data:`MAX_BODY` are refused with 413 (the only bodies are small JSON: the boxes).
"""
from __future__ import annotations

import json
import secrets
import socket
import sys
import threading
import webbrowser
from importlib import resources
from typing import Callable

from ..errors import SiamcanError

MAX_BODY = 64 * 1024  # bytes: a JSON list of boxes is far smaller; anything larger is refused (413)
HOST = "127.0.0.1"
# on every response: scripts, styles, images and media from this server only, never framed by another page, the
# token-bearing URL never sent as a Referer, no content-type guessing
SECURITY_HEADERS = (
    (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                                 b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)

# the page's own files, by the name the page asks for: nothing else is served from the package
STATIC = {
    "track.html": "text/html; charset=utf-8",
    "view.html": "text/html; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "track.js": "text/javascript; charset=utf-8",
    "view.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "vendor/uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "vendor/uPlot.min.css": "text/css; charset=utf-8",
    "vendor/uPlot.LICENSE": "text/plain; charset=utf-8",
}


def static_files() -> dict[str, tuple[bytes, str]]:
    root = resources.files("siamcan.web") / "static"
    out = {}
    for name, mime in STATIC.items():
        try:
            out[name] = ((root / name).read_bytes(), mime)
        except OSError:
            raise SiamcanError(f"the web page's file {name} is missing from the installed package") from None
    return out


class Guard:
    """ASGI middleware: the token on every request, a loopback Host header, and the body size limit."""

    def __init__(self, app, token: str, port: int, max_body: int = MAX_BODY):
        self.app, self.token, self.port, self.max_body = app, token, port, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from urllib.parse import parse_qs

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookie_name = f"siamcan_{self.port}"
        cookies = {}
        for part in headers.get("cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            cookies[k] = v
        from_query = (query.get("token") or [""])[0]
        given = from_query or headers.get("x-token", "") or cookies.get(cookie_name, "")
        if not loopback_host(headers.get("host", "")):
            return await _plain(send, 403, "forbidden: the Host header must be 127.0.0.1 or localhost")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return await _plain(send, 403, "forbidden: this page needs the token printed by siamcan")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _plain(send, 413, f"request body larger than {self.max_body} bytes")
        seen = 0

        async def limited_receive():  # a body sent without (or with a false) Content-Length is counted too
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge
            return message

        async def send_with_cookie(message):  # the page's own files, <video> and downloads then carry the token
            if message["type"] == "http.response.start":
                message = dict(message)
                extra = list(SECURITY_HEADERS)
                if from_query:
                    extra.append((b"set-cookie",
                                  f"{cookie_name}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            return await self.app(scope, limited_receive, send_with_cookie)
        except BodyTooLarge:
            return await _plain(send, 413, f"request body larger than {self.max_body} bytes")


def loopback_host(host: str) -> bool:
    """A ``Host`` header naming the loopback address (any port: ``ssh -L 9000:127.0.0.1:PORT`` forwards another
    port). A page on another site that points its name at 127.0.0.1 (DNS rebinding) sends its own name: refused."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in ("127.0.0.1", "localhost", "[::1]")


class BodyTooLarge(Exception):
    pass


async def _plain(send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def listen(port: int | None) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` None: a free one), bound before the URL is printed, so the page can
    be opened the moment it is."""
    if port is not None and not 1 <= port <= 65535:
        raise SiamcanError(f"--port must be between 1 and 65535, got {port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port or 0))
        sock.listen(64)
    except OSError as e:
        sock.close()
        raise SiamcanError(f"--port {port}: cannot listen on {HOST}:{port} ({e.strerror or e})") from None
    return sock


TEXT_BROWSERS = {"lynx", "links", "elinks", "w3m", "www-browser"}


def browser_available() -> bool:
    """A browser that can show a page to the person at this machine: a desktop session (or macOS / Windows) and a
    browser that Python's ``webbrowser`` knows, not a text-mode one (over ssh there is none: print the URL only)."""
    import os

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        b = webbrowser.get()
    except webbrowser.Error:
        return False
    return os.path.basename(getattr(b, "name", "") or "") not in TEXT_BROWSERS


def json_response(data, status: int = 200):
    from starlette.responses import Response

    return Response(json.dumps(data, allow_nan=False), status_code=status, media_type="application/json")


def serve(routes: list, page: str, port: int | None, open_browser: bool, what: str,
          on_stop: Callable[[], None] | None = None) -> None:
    """Serve ``routes`` plus the page's static files on 127.0.0.1 until Ctrl-C / SIGTERM; print one line with the
    URL of ``page`` (with the token) and open it in a browser when ``open_browser`` and one is available.
    ``on_stop`` runs after the server stopped (cancel a running job)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse, Response
    from starlette.routing import Route

    files = static_files()
    token = secrets.token_urlsafe(32)
    sock = listen(port)
    port = sock.getsockname()[1]

    async def static(request):
        name = request.path_params["name"]
        if name not in files:  # the fixed table: a request path is a key, never a file name
            return Response("not found", status_code=404, media_type="text/plain")
        data, mime = files[name]
        return Response(data, media_type=mime, headers={"Cache-Control": "no-store"})

    async def index(request):
        return RedirectResponse(f"/static/{page}?token={token}")

    async def favicon(request):
        return Response(status_code=204)

    app = Starlette(routes=[Route("/", index), Route("/favicon.ico", favicon), Route("/static/{name:path}", static),
                            *routes])
    guarded = Guard(app, token, port)
    url = f"http://{HOST}:{port}/?token={token}"
    config = uvicorn.Config(guarded, host=HOST, port=port, log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    print(f"siamcan {what}: open {url} (Ctrl-C to stop)", flush=True)
    if open_browser and browser_available():
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    interrupted = False
    try:
        # uvicorn stops gracefully on Ctrl-C / SIGTERM, then raises the signal again: KeyboardInterrupt here
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sock.close()
        if on_stop is not None:
            on_stop()
    if interrupted:
        print(f"siamcan {what}: server stopped", file=sys.stderr, flush=True)

"""Command-line glue of the local web page (:mod:`siamcan.web`): ``siamcan track SOURCE`` without ``--init``, and the
options ``--port`` / ``--no-browser`` shared with ``siamcan view``."""
from __future__ import annotations

import argparse
import sys

from ..errors import SiamcanError


def add_web_options(p: argparse.ArgumentParser, when: str | None = None) -> None:
    prefix = f"with {when}: " if when else ""
    p.add_argument("--port", type=int, default=None,
                   help=f"{prefix}the port of the local page on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true",
                   help=f"{prefix}only print the page's URL, never open a browser (one opens only where there is a "
                        "desktop session)")


def track_in_browser(args: argparse.Namespace, open_run, track_to_files) -> int:
    """``siamcan track SOURCE`` (no ``--init``, or ``--init browser``): serve the drawing page until Ctrl-C.
    ``open_run`` / ``track_to_files``: the command's own set-up and tracking (:mod:`siamcan.cli.track`, which calls
    this; passed in, so this module does not import it back)."""
    if args.init is None and not _interactive():
        raise SiamcanError("no --init box and no terminal to wait in: give the box with --init X,Y,W,H (or a box "
                           "file), or draw it in a web page with --init browser")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise SiamcanError(f"the web page needs starlette and uvicorn ({e}); pip install starlette uvicorn, or give "
                           "the box with --init X,Y,W,H") from None
    from ..web.server import serve
    from ..web.track import TrackSession, routes
    source, tracker, output = open_run(args, None)
    try:
        session = TrackSession(args, source, tracker, output, track_to_files)
    except BaseException:
        source.close()
        raise

    def on_stop() -> None:
        session.stop()
        session.join(30.0)
        session.frames.close()
        source.close()

    serve(routes(session), "track.html", args.port, not args.no_browser, "track", on_stop=on_stop)
    return 0


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False

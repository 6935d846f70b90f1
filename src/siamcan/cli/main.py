"""``siamcan`` - one command line for tracking, evaluation, training, benchmarking and export.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``; modules are imported
only when their command runs. User errors (SiamcanError) print one line and exit with code 2; failures of the
environment (OSError: a full or read-only disk, an unwritable output) print one line and exit with code 1.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading

from ..errors import SiamcanError

COMMANDS = {
    "demo": "Track an object through the built-in clip and score it (no arguments needed).",
    "track": "Track one object (or several) through a video, an image folder, a camera or a stream URL.",
    "eval": "Run a tracker on every sequence of a benchmark (one-pass or VOT protocol).",
    "report": "Metrics (and plots) for tracker result files.",
    "train": "Train a model from a YAML config.",
    "tune": "Search the tracker hyper-parameters (window influence, penalty k, lr) on a dataset.",
    "calibrate": "Fit the per-frame confidence (does the box still cover the target?) on a validation set.",
    "bench": "Measure per-frame tracking speed (fast path vs plain eager path).",
    "export": "Export a model to ONNX (template branch + per-frame network).",
    "view": "Look at tracking or evaluation results in a local web page (boxes, ground truth, IoU, confidence).",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


class _DefaultsFormatter(argparse.HelpFormatter):
    """``--help`` shows each option's default, unless its help text already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and "default" not in text and "%(default)" not in text
                and action.default is not None and action.default is not False
                and action.default != argparse.SUPPRESS and action.nargs != 0):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="siamcan", description="SiamCAN single-object tracker.")
    parser.add_argument("--version", action="version", version=f"siamcan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--no-progress", dest="global_no_progress", action="store_true",
                        help="no progress bars in any command (the same as TQDM_DISABLE=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        mod = importlib.import_module(f"siamcan.cli.{name}")  # a broken command module fails loudly, never vanishes
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=_DefaultsFormatter)
        mod.add_parser(p)
        if "--no-progress" not in p._option_string_actions:  # also accepted after the command name
            p.add_argument("--no-progress", action="store_true",
                           help="no progress bars (the same as siamcan --no-progress COMMAND or TQDM_DISABLE=1)")
        p.set_defaults(_module=mod)
    return parser


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM behaves like Ctrl-C: unwind through ``finally`` blocks so only complete outputs remain."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="siamcan: %(levelname)s: %(message)s")
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    empty = _empty_argument(parser, args)
    if empty:  # "--output ''" would silently mean the default (or the current folder)
        print(f"siamcan {args.command}: error: {empty} is an empty string", file=sys.stderr)
        return 2
    if args.global_no_progress or getattr(args, "no_progress", False):
        os.environ["TQDM_DISABLE"] = "1"  # read at each bar (siamcan.progress), inherited by worker processes
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return int(args._module.run(args) or 0)
    except SiamcanError as e:
        print(f"siamcan {args.command}: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable output, disk full, ...: one line, no traceback
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"siamcan {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nsiamcan {args.command}: interrupted (no output is left half-written; only finished ones are on "
              "disk)", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _empty_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The name of the first argument of the command given as '' (no option takes an empty value), or None."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
    for action in sub._actions:
        value = getattr(args, action.dest, None)
        if value == "" or (isinstance(value, list) and "" in value):
            return "/".join(action.option_strings) if action.option_strings else action.dest.upper()
    return None


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":
    sys.exit(main())

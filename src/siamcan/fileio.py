"""Small file helpers: atomic writes, text and box files (the one box parser), image folders, safe names."""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import SiamcanError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask (``mkstemp`` creates 0600 instead)."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode ``mkdir()`` would give a new folder under the current umask (``mkdtemp`` creates 0700 instead)."""
    return 0o777 & ~_umask()


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """A text file's content as UTF-8 (a byte-order mark is skipped); a binary or UTF-16 file is a one-line
    SiamcanError naming it."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise SiamcanError(f"{what} {p} is a folder, expected a text file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SiamcanError(f"{what} {p} is not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r}); "
                           "save it as UTF-8") from None


def check_name(name: object, what: str) -> str:
    """A name that becomes one path component (a sequence or tracker name from a data file or the command line):
    no folder separators, not ``.`` / ``..``, not empty, no control characters."""
    if not isinstance(name, str):
        raise SiamcanError(f"{what} must be a string, got {type(name).__name__}")
    bad = (not name.strip() or name in (".", "..") or "/" in name or "\\" in name
           or any(ord(c) < 32 for c in name) or Path(name).is_absolute())
    if bad:
        raise SiamcanError(f"{what} {name!r} is not a plain name (no folder separators, '..' or absolute paths)")
    return name


def inside(root: str | os.PathLike, rel: object, what: str) -> Path:
    """``root / rel`` for a relative path ``rel`` from a data file, refused when it is absolute or its ``..`` parts
    lead out of ``root`` (checked on the path as written: symlinks placed inside a dataset are followed)."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise SiamcanError(f"{what} must be a non-empty relative path string, got {rel!r}")
    rp = Path(rel)
    if rp.is_absolute() or os.path.normpath(rel).split(os.sep)[0] == "..":
        raise SiamcanError(f"{what} {rel!r} points outside the dataset root {root}")
    return Path(root) / rp


# ------------------------------------------------------------------------------------ this program's temp files
# Every temporary file or folder siamcan writes beside an output is named ``.NAME.siamcan-PID-RANDOM.tmp[SUFFIX]``
# (NAME: the file it becomes, PID: the writing process, SUFFIX: NAME's own extension, for writers that pick the
# format from the name). Cleaning up touches these names only, and only when their process is gone: never a user's
# file that merely ends in ``.tmp``, never the temp file of a run still going.
_TEMP = re.compile(r"^\.(?P<name>.+)\.siamcan-(?P<pid>\d{1,10})-[A-Za-z0-9_]*\.tmp(?P<suffix>\.[A-Za-z0-9]+)?$")


def temp_prefix(target: str | os.PathLike) -> str:
    """The start of this process's temp names for ``target`` (``mkstemp`` / ``mkdtemp`` add the random part)."""
    return f".{Path(target).name}.siamcan-{os.getpid()}-"


def temp_path(target: str | os.PathLike, suffix: str = "") -> Path:
    """A fresh temp name beside ``target`` (not created): ``.NAME.siamcan-PID-RANDOM.tmpSUFFIX``."""
    p = Path(target)
    return p.with_name(f"{temp_prefix(p)}{secrets.token_hex(4)}.tmp{suffix}")


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (another user's counts; this process does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError) as e:  # another user's process (alive), or no such pid
        return isinstance(e, PermissionError)
    return True


def stale_temps(folder: str | os.PathLike, target: str | None = None) -> list[Path]:
    """This program's temp files and folders in ``folder`` (for the output named ``target``, or any) whose writing
    process has ended: what a killed run left behind."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for e in entries:
        m = _TEMP.match(e.name)
        if not m or (target is not None and m["name"] != target):
            continue
        if m["suffix"] and m["suffix"] != Path(m["name"]).suffix:
            continue
        if not process_alive(int(m["pid"])):
            found.append(Path(e.path))
    return sorted(found)


def remove_stale_temps(folder: str | os.PathLike, target: str | None = None) -> list[Path]:
    """Remove :func:`stale_temps` (a symlink is removed, never followed); returns what was removed."""
    import shutil

    removed = []
    for p in stale_temps(folder, target):
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except FileNotFoundError:  # another run cleaned it first
            pass
        except OSError:  # a read-only folder: leave it, the output itself was written
            continue
        removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it is renamed to ``path``, on an error removed, so the
    file is either complete or absent. The file gets the permissions of a plain ``open`` (umask), not mkstemp's
    0600. The temp name is this program's own (``.NAME.siamcan-PID-RANDOM.tmpSUFFIX``; ``suffix`` for writers that
    pick the format from the name: ``.png``, ``.gif``); after the rename, the temp files of ``path`` that killed runs
    left are removed."""
    p = Path(path)
    tmp = ""
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=temp_prefix(p), suffix=f".tmp{suffix}")
        os.close(fd)
        os.chmod(tmp, file_mode())  # mkstemp creates 0600; give the file the usual permissions
        yield Path(tmp)
        os.replace(tmp, p)
    except OSError as e:  # name the file the user asked for, not this function's temp file
        ours = e.filename is None or str(e.filename).startswith(str(p.parent / temp_prefix(p)))
        if ours and e.errno is not None:
            raise OSError(e.errno, e.strerror, str(p)) from e
        raise
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    remove_stale_temps(p.parent, p.name)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that it is either complete or absent (:func:`atomic_output`), synced to disk."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file so that it is either complete or absent (:func:`atomic_output`)."""
    atomic_write_bytes(path, text.encode())


def format_box(box: Sequence[float], decimals: int = 4) -> str:
    return ",".join(f"{float(v):.{decimals}f}" for v in box)


def write_boxes(path: str | os.PathLike, boxes: Iterable[Sequence[float]], decimals: int = 4) -> None:
    atomic_write_text(path, "".join(format_box(b, decimals) + "\n" for b in boxes))


def companion(output: Path, suffix: str) -> Path:
    """A file beside a boxes file, named after it: ``video.boxes.txt`` -> ``video.mot.txt`` (several targets),
    ``video.track.mp4`` / ``video.scores.txt`` (the web page's video and scores); never the source's own name
    (``video.mp4`` stays untouched)."""
    name = output.name
    stem = name[:-len(".boxes.txt")] if name.endswith(".boxes.txt") else Path(name).stem
    return output.with_name(stem + suffix)


def format_mot(rows: Iterable[tuple[int, int, Sequence[float], float]], decimals: int = 4) -> str:
    """MOT-challenge text: ``frame,id,x,y,w,h,conf,-1,-1,-1`` per (1-based frame, id, box, confidence)."""
    return "".join(f"{frame},{i},{format_box(box, decimals)},{float(conf):.{decimals}f},-1,-1,-1\n"
                   for frame, i, box, conf in rows)


def read_mot(path: str | os.PathLike, what: str = "MOT file") -> dict[int, dict[int, tuple[list[float], float]]]:
    """A MOT-challenge file (``frame,id,x,y,w,h,conf,...``: at least 7 values a line) as id -> frame -> (box, conf).
    A line with fewer values, or a frame/id twice, is a one-line SiamcanError naming the file and line."""
    p = Path(path)
    out: dict[int, dict[int, tuple[list[float], float]]] = {}
    for i, r in _numbered_rows(p, what, allow_empty=True):
        if len(r) < 7:
            raise SiamcanError(f"{p}:{i}: expected frame,id,x,y,w,h,conf[,...] (at least 7 values), got {len(r)}")
        frame, tid = int(r[0]), int(r[1])
        if frame != r[0] or tid != r[1]:
            raise SiamcanError(f"{p}:{i}: frame and id must be integers, got {r[0]:g},{r[1]:g}")
        track = out.setdefault(tid, {})
        if frame in track:
            raise SiamcanError(f"{p}:{i}: id {tid} has a second box in frame {frame}")
        track[frame] = (r[2:6], r[6])
    return out


_SEPARATORS = re.compile(r"[,\s]+")


def _numbers(text: str) -> list[float]:
    """The numbers of one line, separated by commas, tabs and/or spaces ('nan' allowed); ValueError if one is not."""
    return [float(t) for t in _SEPARATORS.split(text.strip()) if t]


def parse_box(text: str) -> list[float]:
    """Parse 'x,y,w,h' (commas, tabs or spaces): the one line parser of every box, annotation and result file."""
    try:
        return _numbers(text)
    except ValueError:
        raise SiamcanError(f"cannot parse box '{text.strip()}': expected numbers x,y,w,h") from None


def read_rows(path: str | os.PathLike, what: str = "box file", allow_empty: bool = False) -> list[list[float]]:
    """The number rows of a text file (blank lines skipped), parsed as :func:`parse_box` does. A missing, empty,
    non-UTF-8 or non-numeric file is a one-line SiamcanError naming ``what``, the file and the line."""
    return [r for _, r in _numbered_rows(Path(path), what, allow_empty)]


def _numbered_rows(p: Path, what: str, allow_empty: bool) -> list[tuple[int, list[float]]]:
    if not p.is_file():
        raise SiamcanError(f"{what} not found: {p}")
    rows = []
    for i, line in enumerate(read_text(p, what).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((i, _numbers(line)))
        except ValueError:
            raise SiamcanError(f"{p}:{i}: cannot parse '{line.strip()[:60]}' as numbers") from None
    if not rows and not allow_empty:
        raise SiamcanError(f"{what} is empty: {p}")
    return rows


def read_boxes(path: str | os.PathLike, ncols: int | tuple[int, ...] | None = 4, what: str = "box file",
               allow_empty: bool = False) -> np.ndarray:
    """Read a box file (one box per line, comma/tab/space separated; 'nan' allowed) -> float array (N, ncols).

    ``ncols``: the values every line has (4: ``x,y,w,h``); a tuple allows any one of them, the same on every line
    (``(4, 8)``: rectangles or VOT polygons); None: any, an object array when the lines differ. Training,
    evaluation, ``siamcan report`` and the command line read every box file through this function."""
    p = Path(path)
    numbered = _numbered_rows(p, what, allow_empty)
    rows = [r for _, r in numbered]
    if ncols is None:
        return np.array(rows, dtype=object) if len({len(r) for r in rows}) > 1 else np.array(rows, dtype=float)
    allowed = (ncols,) if isinstance(ncols, int) else tuple(ncols)
    width = len(rows[0]) if rows and len(rows[0]) in allowed else allowed[0]
    for i, r in numbered:
        if len(r) != width:
            if len(allowed) == 1:
                raise SiamcanError(f"{p}:{i}: expected {width} values, got {len(r)}")
            raise SiamcanError(f"{p}:{i}: expected {' or '.join(map(str, allowed))} values on every line"
                               f"{' (x,y,w,h or a polygon)' if allowed == (4, 8) else ''}, got {len(r)}")
    return np.array(rows, dtype=float).reshape(-1, width)


IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def natural_key(name: str) -> list:
    """Sort key: digit runs compare as numbers, the rest case-insensitively (``2.jpg`` < ``10.jpg``)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files of a folder (any case of the extension) in natural name order: the one listing rule for tracking,
    evaluation and training, so frame i always pairs with annotation line i."""
    d = Path(folder)
    if not d.is_dir():
        raise SiamcanError(f"image folder not found: {d}")
    try:
        files = [p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file()]
    except OSError as e:
        raise SiamcanError(f"cannot list folder {d}: {e.strerror or e}") from None
    return sorted(files, key=lambda p: natural_key(p.name))

"""CPU threads of the tracking commands (``track``, ``eval``, ``tune``; ``train`` has its own rule), and how their
heap keeps decoded frames (:func:`keep_frame_memory`).

On a CPU shared with another job, OpenMP threads that wait for each other at every parallel op collapse: measured
on this project's 2-core machine with a busy loop on one core, siamcan-lite's fast path ran at 2.4 frames/s with 2
torch threads and 10.6 with 1 (``benchmarks/bench_threads.py``; README, Speed). The default therefore leaves one
physical core free: ``physical cores - 1``, at least 1 (1 on 2 cores). ``--threads N`` overrides it.
"""
from __future__ import annotations

from .errors import SiamcanError

MAX_THREADS = 1024


def default_threads() -> int:
    """Physical cores available to this process minus one, at least 1."""
    from .tracking.fast import physical_cores

    return max(1, physical_cores() - 1)


def check_threads(n: int | None, option: str = "--threads") -> int | None:
    """``n`` if it is a sensible thread count (or None), else a one-line error."""
    if n is not None and not 1 <= n <= MAX_THREADS:
        raise SiamcanError(f"{option} must be between 1 and {MAX_THREADS}, got {n}")
    return n


# glibc malloc options (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
FRAME_MEMORY = 64 << 20  # frames up to 64 MB (a 4K frame is 25 MB) are kept in the heap between frames


def keep_frame_memory() -> bool:
    """Let the heap keep the memory of freed video frames for the next frame (glibc only; elsewhere a no-op).

    A decoded 1280x720 frame is 2.8 MB. glibc serves such blocks from the heap once its dynamic threshold has risen,
    but it returns the free top of the heap to the system whenever that exceeds twice the threshold, and then every
    frame's pages are faulted in (and zeroed) again. Whether that happens depends on what else the process
    allocated: measured with ``siamcan eval`` on 1280x720 JPEG frames, the siamcan-nano process trimmed the heap and
    re-faulted ~1,400 pages a frame (773k page faults for 525 frames against 75k for NanoTrack v3, 2.0 s of system
    time against 0.4 s), which is what made ``cv2.imread`` look twice as slow there. Fixed thresholds (64 MB for
    serving from the heap, 4x that before trimming) make every tracking process reuse the same pages. Returns
    whether the allocator took the settings."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, FRAME_MEMORY)) and bool(mallopt(_M_TRIM_THRESHOLD, 4 * FRAME_MEMORY))


def set_threads(n: int | None = None, opencv: bool = True) -> int:
    """Use ``n`` (default: :func:`default_threads`) torch intra-op threads in this process, and as many OpenCV
    threads (crops, NanoTrack); the ONNX backend follows torch's count. Returns the count. Also keeps freed frame
    memory in the heap (:func:`keep_frame_memory`): every tracking command calls this first."""
    import torch

    keep_frame_memory()
    n = check_threads(n) or default_threads()
    torch.set_num_threads(n)
    if opencv:
        import cv2

        cv2.setNumThreads(n)
    return n

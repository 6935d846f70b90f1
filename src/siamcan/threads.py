"""CPU threads of the tracking commands (``track``, ``eval``, ``tune``; ``train`` has its own rule).

On a CPU shared with another job, OpenMP threads that wait for each other at every parallel op collapse: measured
on this project's 2-core machine with a busy loop on one core, siamcan-lite's fast path ran at 2.4 frames/s with 2
torch threads and 10.6 with 1 (``benchmarks/bench_threads.py``; README, Speed). The default therefore leaves one
physical core free: ``physical cores - 1``, at least 1 (1 on 2 cores). ``--threads N`` overrides it.
"""
from __future__ import annotations

import os
import sys

from .errors import SiamcanError

MAX_THREADS = 1024


def default_threads() -> int:
    """Physical cores available to this process minus one, at least 1."""
    from .tracking.fast import physical_cores

    return max(1, physical_cores() - 1)


def available_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_noted: set[tuple[str, int]] = set()


def check_threads(n: int | None, option: str = "--threads") -> int | None:
    """``n`` if it is a sensible thread count (or None), at most the CPUs this process may use (more threads than
    CPUs only wait for each other: 1024 on 2 cores tracked 3 frames in 88 s; a one-line note says so); below 1 or
    above :data:`MAX_THREADS` is a one-line error."""
    if n is not None and not 1 <= n <= MAX_THREADS:
        raise SiamcanError(f"{option} must be between 1 and {MAX_THREADS}, got {n}")
    cpus = available_cpus()
    if n is not None and n > cpus:
        if (option, n) not in _noted:
            _noted.add((option, n))
            print(f"siamcan: note: {option} {n} is more than the {cpus} CPU(s) this process may use; using {cpus}",
                  file=sys.stderr)
        n = cpus
    return n


def set_threads(n: int | None = None, opencv: bool = True) -> int:
    """Use ``n`` (default: :func:`default_threads`) torch intra-op threads in this process, and as many OpenCV
    threads (crops, NanoTrack); the ONNX backend follows torch's count. Returns the count."""
    import torch

    n = check_threads(n) or default_threads()
    torch.set_num_threads(n)
    if opencv:
        import cv2

        cv2.setNumThreads(n)
    return n

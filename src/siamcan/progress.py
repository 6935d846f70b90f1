"""Progress bars: tqdm, switched off everywhere by ``siamcan --no-progress`` or tqdm's own ``TQDM_DISABLE=1``.

tqdm reads ``TQDM_*`` variables once, when it is imported, and an explicit ``disable=`` wins over them; reading the
variable here, at each bar, makes it work in every command and in worker processes alike.
"""
from __future__ import annotations

import os

from tqdm import tqdm


def progress_off() -> bool:
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def progress_bar(iterable=None, *, disable: bool = False, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, disabled when ``disable`` is true or progress is off globally."""
    return tqdm(iterable, disable=disable or progress_off(), **kwargs)

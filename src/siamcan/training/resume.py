"""``--resume`` keeps a run's own settings, and a run folder is tidied before training starts.

A run folder holds the effective config (``config.yaml``: the config file plus the command-line overrides of the
run's first start). Resuming uses that saved config: the config file given on the command line may have changed
since, or lack the overrides (``--epochs 2``), and silently switching to another schedule mid-run would both
change the trajectory and overwrite the run's ``config.yaml``. An override that contradicts the saved value is
refused; one that changes nothing, or one of the keys that may change on resume (:data:`RESUME_MAY_CHANGE`), is
applied.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
from pathlib import Path
from typing import Any

from ..config import Config, config_to_dict, load_config
from ..errors import SiamcanError
from ..fileio import remove_stale_temps

log = logging.getLogger(__name__)

# train keys an override may change on --resume: average_last only re-does the averaging of a finished run
RESUME_MAY_CHANGE = ("average_last",)
OPTION = {"epochs": "--epochs", "pairs_per_epoch": "--pairs-per-epoch", "batch_size": "--batch-size",
          "seed": "--seed", "average_last": "--average-last"}


def saved_config(output: Path) -> Config | None:
    """The config a run folder was started with (``config.yaml``), or None when there is none."""
    path = Path(output) / "config.yaml"
    if not path.is_file():
        return None
    try:
        return load_config(path)
    except SiamcanError as e:
        raise SiamcanError(f"--resume: the run's saved config cannot be read ({e}); fix or delete it") from None


def resume_config(given: Config, output: Path, overrides: dict[str, Any]) -> tuple[Config, list[str]]:
    """The config to continue ``output`` with: the saved one, with ``overrides`` (train keys, None = not given)
    that agree with it or may change on resume. Returns (config, notes for the user)."""
    saved = saved_config(output)
    over = {k: v for k, v in overrides.items() if v is not None}
    if saved is None:  # nothing saved (a run killed before its first write): the given config starts it
        return _override(given, over), []
    for key, value in over.items():
        old = getattr(saved.train, key)
        if value != old and key not in RESUME_MAY_CHANGE:
            raise SiamcanError(f"--resume: {OPTION.get(key, key)} {value} conflicts with the run's train.{key} "
                               f"{old} in {Path(output) / 'config.yaml'}; resume without it, or start a new run "
                               "in another --output")
    notes = []
    differ = _differences(config_to_dict(given), config_to_dict(saved))
    if differ:
        notes.append(f"resuming with the run's saved config {Path(output) / 'config.yaml'}; the given config differs "
                     f"in {', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''} (not used)")
    return _override(saved, over), notes


def _override(cfg: Config, over: dict[str, Any]) -> Config:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **over)) if over else cfg


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain-data configs."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            out += _differences(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if a == b else [prefix or "(config)"]


def check_logs(output: Path) -> None:
    """``log.csv`` / ``val.csv`` of a run must be readable (they are rewritten on resume): a corrupt one is a
    one-line error naming it instead of a traceback."""
    for name in ("log.csv", "val.csv"):
        path = Path(output) / name
        if not path.is_file():
            continue
        line = 1
        try:
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames is not None and "epoch" not in reader.fieldnames:
                    raise SiamcanError(f"{path} is not a siamcan training log (no 'epoch' column); move it away "
                                       "to resume")
                for line, row in enumerate(reader, 2):
                    int(row["epoch"])
                    for v in row.values():  # every value is plotted as a number (loss.png)
                        if v not in (None, ""):
                            float(v)
        except SiamcanError:
            raise
        except (ValueError, TypeError, csv.Error, UnicodeDecodeError):  # SiamcanError is a ValueError too
            raise SiamcanError(f"{path} line {line} is corrupt (not a row of numbers); fix or delete that line "
                               "to resume") from None


def clean_stale_files(output: Path) -> list[Path]:
    """Remove what a killed run left behind in ``output`` and its ``checkpoints/``: this program's temp files and
    folders (``.NAME.siamcan-PID-RANDOM.tmp*``, :func:`siamcan.fileio.stale_temps`) whose process has ended.
    Finished files, a user's own files (``.mydata.tmp/``) and the temp files of a run still going are never touched.
    Returns what was removed."""
    output = Path(output)
    removed = remove_stale_temps(output) + remove_stale_temps(output / "checkpoints")
    if removed:
        log.warning("removed %d unfinished file(s) of a killed run in %s: %s", len(removed), output,
                    ", ".join(p.name for p in removed[:5]))
    return removed

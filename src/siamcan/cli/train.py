"""``siamcan train CONFIG.yaml``: train a model (single process, or one DDP rank per GPU under ``torchrun``)."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config",
                   help="training config .yaml (or a packaged model name: siamcan-nano, siamcan-lite, ...)")
    p.add_argument("--output", default=None, help="output folder (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last finished epoch in --output, with the run's saved config.yaml")
    p.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--pairs-per-epoch", type=int, default=None, help="override train.pairs_per_epoch")
    p.add_argument("--batch-size", type=int, default=None, help="override train.batch_size (per process)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda:LOCAL_RANK if available)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers per process (train.num_workers)")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    p.add_argument("--average-last", type=int, default=None, metavar="N",
                   help="override train.average_last: ship the mean of the last N epochs (with --resume on a "
                        "finished run: only the averaging runs)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads per process on CPU (default: the cores the DataLoader workers leave free, "
                        "at most physical cores - 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..errors import SiamcanError
    from ..threads import check_threads
    from ..training.resume import resume_config
    from ..training.trainer import override, train
    from ..zoo import resolve_config

    args.threads = check_threads(args.threads)
    for opt, value, low in (("--workers", args.workers, 0), ("--seed", args.seed, 0), ("--epochs", args.epochs, 1),
                            ("--pairs-per-epoch", args.pairs_per_epoch, 1), ("--batch-size", args.batch_size, 1),
                            ("--average-last", args.average_last, 0)):
        if value is not None and value < low:
            raise SiamcanError(f"{opt} must be >= {low}, got {value}")
    if args.device:
        from ..tracking.engine import pick_device

        pick_device(args.device)  # an unknown device is a one-line error before any data are read
    cfg = resolve_config(args.config)
    output = Path(args.output) if args.output else Path("runs") / cfg.name
    overrides = dict(epochs=args.epochs, pairs_per_epoch=args.pairs_per_epoch, batch_size=args.batch_size,
                     seed=args.seed, average_last=args.average_last)
    if args.resume:
        cfg, notes = resume_config(cfg, output, overrides)
        for note in notes:
            print(f"siamcan train: {note}")
    else:
        cfg = override(cfg, **overrides)
    try:
        train(cfg, output, resume=args.resume, device=args.device, workers=args.workers,
              progress=not args.no_progress, threads=args.threads)
    except KeyboardInterrupt:
        print(f"\nsiamcan train: stopped; finished epochs are kept in {output}/checkpoints. Resume with:\n  "
              f"siamcan train {shlex.quote(args.config)} --output {shlex.quote(str(output))} --resume",
              file=sys.stderr)
        raise
    return 0

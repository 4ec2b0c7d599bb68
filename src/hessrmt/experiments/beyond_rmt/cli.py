"""Light command-line glue of ``hessrmt reproduce beyond-rmt`` (no torch at import time)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``hessrmt reproduce beyond-rmt``."""
    parser.description = (
        "Reproduce Granziol (arXiv 2006.07721): product and percolated laws checked against "
        "sampled matrices, the atom at zero against rank theory (ensembles and exact MLP "
        "Hessians), family fits of network Hessian spectra and a verdict per network. Writes "
        "OUT/summary.json, OUT/report.md and OUT/spectra.npz; finished steps are checkpointed in "
        "the hidden sibling .OUT.partial/, so rerunning the same command resumes."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--out", default=None, metavar="DIR", help="output run folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    parser.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help="folder holding CIFAR-10 (cifar-10-batches-bin or cifar-10-batches-py) and/or "
        "CIFAR-100 (cifar-100-python or cifar-100-binary, fine labels): the CNNs are then also "
        "trained and analysed on each (width 1, 400 images; nothing is downloaded)",
    )
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="discard checkpoints of other settings and replace an earlier run folder",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or log")


def run_from_args(args: argparse.Namespace) -> int:
    import sys

    from .pipeline import run_beyond_rmt

    summary = run_beyond_rmt(
        args.out,
        quick=args.quick,
        seed=args.seed,
        threads=args.threads,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        data_root=args.data_root,
    )
    for v in summary["verdict"].values():
        sys.stdout.write(v["sentence"] + "\n")
    sys.stdout.write(f"beyond-rmt: done in {summary['duration_s']:.0f} s\n")
    return 0

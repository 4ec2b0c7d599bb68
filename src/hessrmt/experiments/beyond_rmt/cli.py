"""Light command-line glue of ``hessrmt reproduce beyond-rmt`` (no torch at import time)."""

from __future__ import annotations

import argparse

#: The options every reproduction has (:func:`hessrmt.cli.reproduce.add_run_arguments`).
RUN_OPTIONS = dict(
    quick="small sizes: a few minutes",
    out="output run folder",
    data_root="folder holding CIFAR-10 (cifar-10-batches-bin or cifar-10-batches-py) and/or "
    "CIFAR-100 (cifar-100-python or cifar-100-binary, fine labels): the CNNs are then also "
    "trained and analysed on each (width 1, 400 images; nothing is downloaded)",
    threads="BLAS and torch threads",
    overwrite="discard checkpoints of other settings and replace an earlier run folder",
    progress="no progress bars or log",
    dir_metavar=True,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The description of ``hessrmt reproduce beyond-rmt`` (its options: RUN_OPTIONS)."""
    parser.description = (
        "Reproduce Granziol (arXiv 2006.07721): product and percolated laws checked against "
        "sampled matrices, the atom at zero against rank theory (ensembles and exact MLP "
        "Hessians), family fits of network Hessian spectra and a verdict per network. Writes "
        "OUT/summary.json, OUT/report.md and OUT/spectra.npz; finished steps are checkpointed in "
        "the hidden sibling .OUT.partial/, so rerunning the same command resumes."
    )


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

"""Light command-line glue of ``hessrmt reproduce applicability`` (no torch at import time)."""

from __future__ import annotations

import argparse

#: The options every reproduction has (:func:`hessrmt.cli.reproduce.add_run_arguments`).
RUN_OPTIONS = dict(
    quick="narrow networks, few epochs and batches: a few minutes (the full run with the "
    "paper's widths takes hours on a CPU)",
    out="output directory",
    out_default="applicability-out",
    data_root="folder with MNIST / CIFAR-10 / Bike files; bundled stand-ins are used otherwise",
    threads="BLAS and torch threads (default: 1 with --quick, whose matrices are small; as is "
    "otherwise)",
    overwrite="discard checkpoints of other settings and replace an earlier run folder (only "
    "folders hessrmt made; anything else is refused)",
    progress="no progress bars or log",
    dir_metavar=True,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The description of ``hessrmt reproduce applicability`` (its options: RUN_OPTIONS)."""
    parser.description = (
        "Reproduce Baskerville, Granziol & Keating (arXiv:2102.06740): exact batch and full-data "
        "Hessian spectra of the paper's networks against GOE (float64 and float32), the "
        "Gaussian-process model of the true loss, gradient decorrelation, and the ImageNet "
        "exponential-hardness fit. Writes OUT/summary.json, OUT/report.html and OUT/parts/ "
        "when the run is complete; finished parts are checkpointed in the hidden sibling "
        ".OUT.partial/, so rerunning the same command resumes."
    )
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated models to run (default: all; full run: logreg, mlp, deep-mlp, "
        "lenet, regression-mlp); a reduced run, recorded and stated in the report",
    )
    parser.add_argument(
        "--max-batches",
        type=int,
        default=None,
        metavar="N",
        help="at most N batch Hessians per model (default: the preset's, up to 64 for the "
        "full logistic model); a reduced run, recorded and stated in the report",
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run the reproduction; errors propagate as hessrmt errors (one line, exit status 2)."""
    import sys

    from .pipeline import run_applicability

    summary = run_applicability(
        args.out,
        quick=args.quick,
        seed=args.seed,
        data_root=args.data_root,
        threads=args.threads,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        models=None if args.models is None else tuple(m.strip() for m in args.models.split(",")),
        max_batches=args.max_batches,
    )
    n = sum(len(m["variants"]) for m in summary["models"].values())
    sys.stdout.write(
        f"applicability: {len(summary['models'])} models, {n} spectra variants; "
        f"wrote {args.out}/summary.json and {args.out}/report.html\n"
    )
    return 0

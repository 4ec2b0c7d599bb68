"""``hessrmt reproduce gan``: light module (no heavy imports at import time)."""

from __future__ import annotations

import argparse
import time

from hessrmt.errors import InputError

#: The options every reproduction has (:func:`hessrmt.cli.reproduce.add_run_arguments`).
RUN_OPTIONS = dict(
    quick="small run (a few minutes)",
    out="run folder (default runs/gan-<UTC time>)",
    seed="master seed (default 0)",
    overwrite="replace a finished run folder",
    data_root="folder with CIFAR-10 (cifar-10-batches-py or -bin) for the DCGAN runs "
    "(default: scikit-learn's bundled digits)",
    progress="no progress output",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``hessrmt reproduce gan`` has only the shared options (RUN_OPTIONS)."""


def run_from_args(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    from hessrmt.experiments.gan import pipeline

    cfg = pipeline.quick_config(args.seed) if args.quick else pipeline.full_config(args.seed)
    if args.data_root is not None:
        import dataclasses

        cfg = dataclasses.replace(cfg, data_root=args.data_root)
    if not args.quick:
        import sys

        sys.stderr.write(
            "gan: full run, about 1 hour on one core (66 min measured on a shared 2-core "
            "machine, docs/reproductions/gan.md); every part is checkpointed, rerun the same "
            "command to resume\n"
        )
    t0 = time.perf_counter()
    s = pipeline.run(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    ok = sum(
        1 for d in s["density_checks"].values()
        if max(abs(z) for z in d["moments"]["z"]) < 4 and d["ks"]["pvalue"] > 0.01
    )  # fmt: skip
    th = s["thresholds"]
    print(
        f"gan ({s['mode']}): density matches sampling in {ok}/{len(s['density_checks'])} cases; "
        f"theta_D = {th['theta_D']:.4g}, theta_G = {th['theta_G']:.4g} (p = q = {th['p']}, "
        f"kappa = {th['kappa']}, sigma_z = {th['sigma_z']}); {time.perf_counter() - t0:.0f} s"
    )
    for name, c in s["gan_runs"]["correlations"].items():
        rho = "n/a" if c["rho"] is None else f"{c['rho']:.2f}"
        print(f"  GAN {name}: Spearman rho {rho} [{c['low']}, {c['high']}]: {c['verdict']}")
    return 0

"""``hessrmt reproduce spin-glass``: light module (no torch at import time)."""

from __future__ import annotations

import argparse
import sys
import time

#: The options every reproduction has (:func:`hessrmt.cli.reproduce.add_run_arguments`).
RUN_OPTIONS = dict(
    quick="small run (about 3-5 minutes)",
    out="run folder (default runs/spin-glass-<time>)",
    seed="master seed (default 0)",
    overwrite="replace a finished run folder",
    threads="BLAS/torch threads (default 1)",
    threads_default=1,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``hessrmt reproduce spin-glass`` has only the shared options (RUN_OPTIONS)."""


def run_from_args(args: argparse.Namespace) -> int:
    import dataclasses

    from hessrmt.errors import InputError
    from hessrmt.experiments.spin_glass import pipeline

    if args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    config = pipeline.quick_config(args.seed) if args.quick else pipeline.full_config(args.seed)
    config = dataclasses.replace(config, threads=args.threads)
    pipeline.validate(config)
    if not args.quick:
        sys.stderr.write("spin-glass: full run, about 1-1.5 hours on one core (91 min measured "
                         "on a shared 2-core machine, docs/reproductions/spin-glass.md); steps "
                         "are checkpointed (rerun the same command to resume)\n")  # fmt: skip
    t0 = time.perf_counter()
    s = pipeline.run(config, args.out, overwrite=args.overwrite, progress=not args.quick)
    d = s["pspin_descent"]
    for r in d["per_N"]:
        b, w = r["below_minus_E0"], r["within_band_of_minus_E_inf"]
        print(
            f"{d['p']}-spin N = {r['N']}: mean stopping energy {r['energy_mean']:.4f}; below "
            f"-E_0: {b['fraction']:.3f} ± {b['stderr']:.3f}; within {d['band']} of -E_inf: "
            f"{w['fraction']:.3f} ± {w['stderr']:.3f}"
        )
    print(f"spin-glass ({s['mode']}) finished in {time.perf_counter() - t0:.0f} s")
    return 0

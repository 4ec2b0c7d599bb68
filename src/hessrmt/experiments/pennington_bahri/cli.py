"""``hessrmt reproduce pennington-bahri``: light module (no torch at import time)."""

from __future__ import annotations

import argparse
import sys

from hessrmt.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small run (width 5, 600 short searches; 1.5-3 minutes)",
    )
    parser.add_argument(
        "--out", default="pennington-bahri-run", help="output folder (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--starts", type=int, help="critical-point searches per phi")
    parser.add_argument("--width", type=int, help="hidden width = input = output dimension")
    parser.add_argument("--max-iter", type=int, help="Newton iterations per search")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (full mode shows one)"
    )


def run_from_args(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    import time

    from hessrmt.experiments.pennington_bahri import pipeline

    config = pipeline.quick_config(args.seed) if args.quick else pipeline.full_config(args.seed)
    overrides = {}
    if args.starts is not None:
        overrides["starts"] = args.starts
    if args.width is not None:
        overrides["width"] = args.width
    if args.max_iter is not None:
        overrides["max_iter"] = overrides["min_max_iter"] = args.max_iter
    if overrides:
        import dataclasses

        config = dataclasses.replace(config, **overrides)
    pipeline._validate(config)
    n = len(pipeline.planned_searches(config))
    if not args.quick:
        est = pipeline.estimate_seconds(config)
        P = pipeline.T.n_params_of(
            config.width, config.n_in or config.width, config.n_out or config.width, config.bias
        )
        sys.stderr.write(
            f"pennington-bahri: {n} searches, P = {P} parameters; estimated duration "
            f"~{est / 60:.0f} min on this machine, one thread (completed searches are "
            "checkpointed; rerun to resume)\n"
        )
    t0 = time.perf_counter()
    summary = pipeline.run(
        config, args.out, progress=not (args.quick or args.no_progress), log=None
    )
    ex = summary["exponent"]
    gamma = "n/a" if ex["gamma"] is None else f"{ex['gamma']:.3f}"
    print(
        f"pennington-bahri ({summary['mode']}): {summary['n_kept']}/{summary['n_searches']} "
        f"critical points kept (|grad L| <= {summary['accept_gtol']:g}, Newton step <= "
        f"{summary['config']['accept_xtol']:g}; {summary['n_distinct']} distinct); "
        f"fitted exponent {gamma} (95% bootstrap interval {ex['interval']}), expected 1.5"
    )
    for m in summary["minimisers"]:
        e = "none" if m["min_energy"] is None else f"{m['min_energy']:.4f}"
        print(
            f"  minimiser energy at phi = {m['phi']:.3f}: {e}  "
            f"((1 - phi)^2/2 = {m['paper_curve']:.4f})"
        )
    print(
        f"wrote {args.out}/summary.json, report.html, figures/ in {time.perf_counter() - t0:.0f} s"
    )
    return 0

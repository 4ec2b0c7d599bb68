"""``hessrmt reproduce pennington-bahri``: light module (no torch at import time)."""

from __future__ import annotations

import argparse
import sys

from hessrmt.errors import InputError

#: The options every reproduction has (:func:`hessrmt.cli.reproduce.add_run_arguments`).
RUN_OPTIONS = dict(
    quick="small run (width 5, three phi, 1,368 short searches; a few minutes)",
    out="run folder (default: runs/pennington-bahri-<UTC time>)",
    overwrite="replace a finished run folder / discard checkpoints made with other settings",
    seed="master seed (default 0)",
    data_root="folder holding cifar-10-batches-py/ for the autoencoder figure (default: the "
    "bundled digits stand-in)",
    progress="no progress bar (full mode shows one)",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hessrmt reproduce pennington-bahri`` beyond RUN_OPTIONS."""
    parser.add_argument("--starts", type=int, help="critical-point searches per phi (paper's loss)")
    parser.add_argument("--variant-starts", type=int, help="searches per phi, weight-decay variant")
    parser.add_argument(
        "--weight-decay", type=float, help="lam of the variant L + lam/2 |theta|^2 (0: no variant)"
    )
    parser.add_argument("--width", type=int, help="hidden width = input = output dimension")
    parser.add_argument("--max-iter", type=int, help="Newton iterations per search")
    parser.add_argument("--no-autoencoder", action="store_true", help="skip the autoencoder")


def run_from_args(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    import dataclasses
    import time

    from hessrmt.experiments.pennington_bahri import config as C
    from hessrmt.experiments.pennington_bahri import pipeline, runtime

    config = C.quick_config(args.seed) if args.quick else C.full_config(args.seed)
    overrides: dict = {}
    for name, field in (
        ("starts", "starts"),
        ("variant_starts", "variant_starts"),
        ("weight_decay", "variant_weight_decay"),
        ("width", "width"),
    ):
        if getattr(args, name) is not None:
            overrides[field] = getattr(args, name)
    if args.max_iter is not None:
        overrides["max_iter"] = overrides["min_max_iter"] = args.max_iter
    if args.no_autoencoder:
        overrides["autoencoder"] = False
    config = dataclasses.replace(config, **overrides)
    C.validate(config)
    plan = pipeline.check_memory(config)  # a width that cannot fit fails now, in one line
    n = len(C.planned_searches(config))
    log = None if args.quick else (lambda msg: sys.stderr.write(f"pennington-bahri: {msg}\n"))

    def announce() -> None:  # once the run folder is open: an error stays the only line
        sys.stderr.write(f"pennington-bahri: {n} searches; {plan}\n")
        if not args.quick:
            est = runtime.estimate_seconds(config)
            sys.stderr.write(
                f"pennington-bahri: model estimate ~{est / 60:.0f} min on this machine, one "
                "thread (recalibrated after the first searches; completed searches are "
                "checkpointed: rerun to resume)\n"
            )

    t0 = time.perf_counter()
    summary = pipeline.run(
        config,
        args.out,
        overwrite=args.overwrite,
        data_root=args.data_root,
        progress=not (args.quick or args.no_progress),
        log=log,
        announce=announce,
    )
    ex = summary["exponent"]
    gamma = "n/a" if ex["exponent"] is None else f"{ex['exponent']:.3f}"
    print(
        f"pennington-bahri ({summary['mode']}): {summary['n_kept']}/{summary['n_searches']} "
        f"critical points kept on L ({summary['n_distinct']} distinct); one gamma for all phi "
        f"= {gamma} (95% interval {ex['exponent_interval']}, "
        f"bootstrap p(gamma = 1.5) = {ex.get('bootstrap_p_value')}, F test p = {ex['p_value']})"
    )
    for name in ("thresholds", "thresholds_weight_decay"):
        for t in summary.get(name, []):
            e0 = "n/a" if t["eps0"] is None else f"{t['eps0']:.4f}"
            g = "n/a" if t["gamma"] is None else f"{t['gamma']:.2f}"
            print(
                f"  {name} phi = {t['phi']:.3f}: eps0 = {e0} {t['eps0_interval']} vs "
                f"(1 - phi)^2/2 = {t['predicted']:.4f}; gamma = {g} {t['gamma_interval']} "
                f"(n = {t['n_points']})"
            )
    out = summary.get("run", {}).get("out", args.out)
    print(f"wrote {out}: summary.json, report.html, figures/ in {time.perf_counter() - t0:.0f} s")
    return 0

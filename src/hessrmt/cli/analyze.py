"""``hessrmt analyze`` (model -> exact Hessian spectra -> RMT verdict -> HTML report) and
``hessrmt report RUN_DIR`` (rebuild the report of a run folder).

Torch and matplotlib are imported only inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hessrmt.analysis.config import (
    DEFAULT_BATCH_HESSIANS,
    DEFAULT_COLLECTIVE_TIMEOUT,
    DEFAULT_EPOCHS,
    DTYPES,
    METHODS,
    SLQ_QUADRATURES,
    SUBBLOCK_MODES,
    AnalysisConfig,
)


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` and ``report`` sub-commands."""
    p = sub.add_parser(
        "analyze",
        help="train or load a network, compute its Hessian spectra, test them against RMT",
        description="Exact Hessian spectra of a network (full data at initialisation and after "
        "training, batch Hessians, Gauss-Newton / residual split), analysed against random "
        "matrix theory, written to a run folder with summary.json, spectrum.npz, figures and a "
        "self-contained report.html. With no arguments: the built-in default (mlp on digits).",
    )
    p.add_argument(
        "--model",
        default="mlp",
        help="logreg, mlp, deep-mlp, lenet, regression-mlp, vgg-small, vgg-small-bn, "
        "preresnet-small, resnet20, transformer or package.module:function "
        "returning an nn.Module (default: mlp)",
    )
    p.add_argument(
        "--data",
        default="digits",
        help="digits, digits-rows, iris, wine, breast-cancer, synthetic, synthetic-regression, "
        "random, cifar10-synthetic, or mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse, "
        "bike with --data-root "
        "(default: digits)",
    )
    p.add_argument("--data-root", default=None, help="folder holding local data files")
    p.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="use only this many samples of the data set (seeded subset)",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="state_dict file (torch.save) to analyse instead of training",
    )
    p.add_argument(
        "--epochs",
        type=_nonneg_int,
        default=DEFAULT_EPOCHS,
        help=f"training epochs (default: {DEFAULT_EPOCHS})",
    )
    p.add_argument(
        "--loss", default=None, help="cross-entropy or mse (default: by task), mean over samples"
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="dense (all eigenvalues), lanczos (extremes + SLQ density) or auto "
        "(dense when the matrix fits in memory; default)",
    )
    p.add_argument(
        "--batch-hessians",
        type=_nonneg_int,
        default=DEFAULT_BATCH_HESSIANS,
        metavar="N",
        help=f"batch Hessians (batch 64) pooled for local statistics "
        f"(default: {DEFAULT_BATCH_HESSIANS})",
    )
    p.add_argument("--batch-size", type=int, default=64, help="batch size of batch Hessians")
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float64",
        help="precision of model, Hessian and eigenvalues (default: float64)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of everything (default: 0)")
    p.add_argument(
        "--zero-rtol",
        type=float,
        default=None,
        help="relative tolerance of zero eigenvalues (default: by dtype)",
    )
    p.add_argument("--slq-probes", type=int, default=8, help="SLQ probe vectors (default: 8)")
    p.add_argument("--slq-steps", type=int, default=80, help="SLQ Lanczos steps (default: 80)")
    p.add_argument(
        "--slq-quadrature",
        choices=SLQ_QUADRATURES,
        default="gauss",
        help="SLQ rule: gauss (as every SLQ tool), or radau (a node at 0, same products: keeps "
        "the near-null mass at 0 and reports it; default: gauss)",
    )
    p.add_argument(
        "--fit-null",
        type=_nonneg_int,
        default=0,
        metavar="N",
        help="simulated-null replicates for the plausibility of the density fits (default: 0, "
        "distances only)",
    )
    p.add_argument(
        "--no-family-fit",
        action="store_true",
        help="skip the table of random-matrix families (semicircle, MP, Wishart and Wigner x "
        "Wishart products, percolated Wigner) fitted to the trained spectrum",
    )
    p.add_argument(
        "--family-boot",
        type=_nonneg_int,
        default=19,
        metavar="N",
        help="refitting-bootstrap replicates of the family fits (default: 19)",
    )
    p.add_argument(
        "--lanczos-k",
        type=int,
        default=20,
        help="Lanczos path: eigenvalues computed at each end of the spectrum (default: 20)",
    )
    p.add_argument(
        "--lanczos-restarts",
        type=int,
        default=100,
        metavar="N",
        help="Lanczos path: restart cycles allowed per end (bounds the time; convergence is "
        "recorded; default: 100)",
    )
    p.add_argument(
        "--max-dense-params",
        type=int,
        default=None,
        metavar="P",
        help="with --method auto: use the dense path only up to P parameters (default: from the "
        "memory available)",
    )
    p.add_argument(
        "--subblocks",
        choices=SUBBLOCK_MODES,
        default="auto",
        help="local statistics of exact principal sub-blocks of the trained Hessian: layers "
        "(one per layer), random (seeded parameter subsets), none, or auto (layers when the "
        "full spectrum is not dense; default)",
    )
    p.add_argument(
        "--subblock-size",
        type=int,
        default=1000,
        metavar="M",
        help="parameters per sub-block: cap of a layer block (larger layers are subsampled, "
        "seeded) and size of a random block; costs M Hessian-vector products (default: 1000)",
    )
    p.add_argument(
        "--subblock-count",
        type=int,
        default=4,
        metavar="N",
        help="number of random sub-blocks with --subblocks random (default: 4)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="run folder (default: runs/analyze-<UTC timestamp>); rerun with the same "
        "--out to resume an interrupted run",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="discard checkpoints of other settings (steps whose own settings are unchanged "
        "are reused) and replace an earlier run folder (only folders hessrmt made; anything "
        "else is refused)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or step messages")
    p.add_argument(
        "--collective-timeout",
        type=float,
        default=DEFAULT_COLLECTIVE_TIMEOUT,
        metavar="SECONDS",
        help="under torchrun: seconds a process waits for the others in a collective before "
        f"failing with one line (default: {DEFAULT_COLLECTIVE_TIMEOUT:g})",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print summary.json's verdicts as JSON instead of a table",
    )
    p.set_defaults(handler=run_analyze)

    r = sub.add_parser(
        "report",
        help="rebuild report.html of an analyze run folder",
        description="Rebuild figures/*.png and report.html of a run folder written by "
        "hessrmt analyze, from its summary.json and spectrum.npz.",
    )
    r.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by hessrmt analyze")
    r.set_defaults(handler=run_report)


def config_from_args(args: argparse.Namespace) -> AnalysisConfig:
    """The :class:`AnalysisConfig` of parsed ``analyze`` arguments."""
    return AnalysisConfig(
        model=args.model,
        data=args.data,
        data_root=args.data_root,
        n_samples=args.n_samples,
        checkpoint=args.checkpoint,
        epochs=args.epochs,
        loss=args.loss,
        method=args.method,
        batch_hessians=args.batch_hessians,
        batch_size=args.batch_size,
        dtype=args.dtype,
        device=args.device,
        seed=args.seed,
        zero_rtol=args.zero_rtol,
        slq_probes=args.slq_probes,
        slq_steps=args.slq_steps,
        slq_quadrature=args.slq_quadrature,
        lanczos_k=args.lanczos_k,
        lanczos_restarts=args.lanczos_restarts,
        fit_null=args.fit_null,
        family_fit=not args.no_family_fit,
        family_boot=args.family_boot,
        max_dense_params=args.max_dense_params,
        subblocks=args.subblocks,
        subblock_size=args.subblock_size,
        subblock_count=args.subblock_count,
        out=args.out,
        overwrite=args.overwrite,
        progress=not args.quiet,
        collective_timeout=args.collective_timeout,
    )


def _num(value: Any, spec: str = ".4g") -> str:
    return "-" if not isinstance(value, (int, float)) else format(value, spec)


def format_table(summary: dict[str, Any]) -> str:
    """Plain-text verdict table of a summary."""
    lines = [
        f"{'spectrum':<9} {'eigs':>7} {'lambda_min':>11} {'lambda_max':>11} {'zero frac':>9} "
        f"{'<r~>':>7} {'+-SE':>7}  verdict"
    ]
    for name in summary["spectra"]:
        rec = summary[name]
        lines.append(
            f"{name:<9} {rec.get('n_eigenvalues', 0):>7} {_num(rec.get('lambda_min')):>11} "
            f"{_num(rec.get('lambda_max')):>11} {_num(rec.get('zero_fraction'), '.3f'):>9} "
            f"{_num(rec.get('mean_ratio'), '.4f'):>7} {_num(rec.get('mean_ratio_se'), '.4f'):>7}"
            f"  {rec.get('verdict') or 'skipped'}"
        )
    for name in summary["spectra"]:  # why a statistic or the verdict was skipped, and what to do
        rec = summary[name]
        why = rec.get("skipped") or (rec.get("verdict_tests") or {}).get("skipped")
        if why:
            lines.append(f"{name}: {why}")
    return "\n".join(lines)


def format_subblock_table(section: dict[str, Any]) -> str:
    """Plain-text per-block table of ``summary['subblocks']`` and its computed sentence."""
    lines = [
        f"principal sub-blocks ({section.get('reason')}):",
        f"{'block':<16} {'size':>6} {'of':>7} {'lambda_min':>11} {'lambda_max':>11} "
        f"{'outl':>4} {'<r~>':>7} {'95% interval':>17}  verdict",
    ]
    for b in section["blocks"]:
        iv = b.get("mean_ratio_interval")
        lines.append(
            f"{str(b.get('name'))[:16]:<16} {b.get('size'):>6} {b.get('n_total'):>7} "
            f"{_num(b.get('lambda_min')):>11} {_num(b.get('lambda_max')):>11} "
            f"{_num(b.get('n_outliers'), 'd'):>4} {_num(b.get('mean_ratio'), '.4f'):>7} "
            + (f"[{iv[0]:.4f}, {iv[1]:.4f}]" if iv else f"{'-':>17}")
            + f"  {b.get('verdict') or 'skipped'}"
        )
    lines.append(str(section.get("sentence", "")))
    return "\n".join(lines)


def retain_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed blocks of up to 32 MiB instead of unmapping them.

    A choice for the whole process, so only the ``hessrmt analyze`` command makes it (the
    library's :func:`~hessrmt.analysis.analyze` changes no process-wide state). Batched
    Hessian-vector products allocate and free many temporaries of a few MiB; by default glibc
    returns them to the system and faults the pages in again on the next allocation, which cost
    about a third of the CPU time of the default run in system time (measured: 3-4 ms of page
    faults per Hessian column against 0.2 ms with this setting). Sets ``M_MMAP_THRESHOLD`` to
    32 MiB and ``M_TRIM_THRESHOLD`` to 1 GiB with ``mallopt`` (peak memory is unchanged).
    Returns whether it took effect (False off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, 32 << 20)) and bool(libc.mallopt(-1, 1 << 30))
    except (OSError, AttributeError):
        return False


def run_analyze(args: argparse.Namespace) -> int:
    import json

    from hessrmt.analysis.distributed import process_group
    from hessrmt.analysis.pipeline import analyze

    config = config_from_args(args)
    retain_freed_memory()  # the command owns its process (see the docstring)
    with process_group(config.device, config.collective_timeout) as (device, rank):  # torchrun
        result = analyze(config.replace(device=device))
    if rank != 0:
        return 0  # rank 0 prints
    s = result.summary
    if args.json:
        doc = {k: s[k] for k in ("n_params", "method", "dtype", "seed")}
        doc["out"] = result.out
        doc["verdicts"] = result.verdicts()
        print(json.dumps(doc, indent=2))
        return 0
    print(f"hessrmt analyze: {s['model']} on {s['data']['name']}, P = {s['n_params']}")
    print(f"method: {s['method_reason']}")
    print(format_table(s))
    for name, why in s.get("skipped", {}).items():
        print(f"skipped {name}: {why}")
    sub = s.get("subblocks") or {}
    if sub.get("blocks"):
        print(format_subblock_table(sub))
    print(f"run folder: {result.out} (report: {result.out}/report.html)")
    sys.stdout.flush()
    return 0


def run_report(args: argparse.Namespace) -> int:
    from hessrmt.report.analysis_report import build_report

    path = build_report(args.run_dir)
    print(f"report written: {path}")
    return 0

"""``hessrmt theory THEORY``: calculators for the theories hessrmt implements.

Each theory is a sub-command registered in :data:`THEORIES` (name -> (one-line help, function that
adds its arguments and sets its handler)). Only NumPy/SciPy are imported at start-up; matplotlib is
imported only when ``--plot`` is given. Errors (``phi <= 0``, ``eps < 0``, ...) are
:class:`~hessrmt.errors.InputError`s, printed by :mod:`hessrmt.cli.main` as one line, exit 2.

Example::

    hessrmt theory pennington-bahri --phi 0.25 --eps 0.1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hessrmt.cli import theory_gan
from hessrmt.errors import InputError


def _finite_float(text: str) -> float:
    try:
        return float(text)  # finiteness and range: _check_pennington_bahri (one-line errors)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc


# ---------------------------------------------------------------------------------------------
# pennington-bahri
# ---------------------------------------------------------------------------------------------


def _add_pennington_bahri(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--phi",
        type=_finite_float,
        required=True,
        help="parameters per data point (per output), 1e-8 <= phi <= 1e8",
    )
    parser.add_argument(
        "--eps",
        "--epsilon",
        dest="eps",
        type=_finite_float,
        required=True,
        help="energy (loss) of the critical point: 0, or 1e-12 <= eps <= 1e8",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", metavar="FILE", help="draw the density into FILE (png, pdf, svg)")
    parser.add_argument(
        "--grid",
        type=int,
        default=801,
        help="grid points for the density, 3 to 100001 (default 801)",
    )
    parser.set_defaults(handler=_run_pennington_bahri)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _plot_pennington_bahri(result: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hessrmt.io import atomic_write_bytes

    out = Path(path)
    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "pdf", "svg"):
        raise InputError(f"--plot {path}: unsupported file type {fmt!r}; use .png, .pdf or .svg")
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        ax.plot(result.x, result.density, color="C0", lw=1.5, label="H0 + H1 density")
        neg = result.x <= 0
        ax.fill_between(
            result.x[neg], result.density[neg], color="C3", alpha=0.4,
            label=f"index alpha = {result.index:.4g}",
        )  # fmt: skip
        ax.axvline(0.0, color="k", lw=0.5)
        peak = float(max(result.density.max(), 1e-12))
        for loc, mass in result.atoms:
            ax.vlines(loc, 0.0, peak, color="C2", lw=2.5, label=f"atom {mass:.4g} at {loc:g}")
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("density")
        ax.set_title(
            f"Pennington-Bahri: phi = {result.phi:g}, eps = {result.epsilon:g} "
            f"(eps_c = {result.epsilon_c:.4g})"
        )
        ax.legend()
        import io as _io

        buf = _io.BytesIO()
        fig.savefig(buf, format=fmt, bbox_inches="tight")
        atomic_write_bytes(out, buf.getvalue())
    finally:
        plt.close(fig)


#: Ranges of the calculator's inputs, checked over a log grid of phi x eps (see
#: tests/cli/test_theory.py); beyond them the root finding is not validated and is refused.
PHI_RANGE = (1e-8, 1e8)
EPS_RANGE = (1e-12, 1e8)  # or exactly 0
GRID_RANGE = (3, 100_001)


def _check_pennington_bahri(args: argparse.Namespace) -> None:
    """The command's one validation of its numbers and of ``--plot`` (before any work)."""
    from hessrmt.validation import integer, real

    real(args.phi, "--phi (parameters per data point)", minimum=PHI_RANGE[0], maximum=PHI_RANGE[1])
    eps = real(args.eps, "--eps (epsilon, the loss)", minimum=0.0, maximum=EPS_RANGE[1])
    if 0 < eps < EPS_RANGE[0]:
        raise InputError(f"--eps (epsilon) must be 0 or at least {EPS_RANGE[0]:g}, got {eps:g}")
    integer(args.grid, "--grid", minimum=GRID_RANGE[0], maximum=GRID_RANGE[1])
    if args.plot:
        out = Path(args.plot)
        if out.is_dir():
            raise InputError(f"--plot {out} is a folder; give a file name such as density.png")
        fmt = out.suffix.lstrip(".").lower()
        if fmt not in ("png", "pdf", "svg"):
            raise InputError(
                f"--plot {out}: unsupported file type {fmt or '(none)'!r}; use .png, .pdf or .svg"
            )
        parent = out.parent
        if not parent.is_dir():
            raise InputError(f"--plot {out}: folder {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"--plot {out}: folder {parent} is not writable")


def _run_pennington_bahri(args: argparse.Namespace) -> int:
    from hessrmt.rmt.pennington_bahri import evaluate

    _check_pennington_bahri(args)
    result = evaluate(args.phi, args.eps, grid_points=args.grid)
    summary = result.to_summary_dict()
    if args.plot:
        _plot_pennington_bahri(result, args.plot)
        summary["plot"] = str(args.plot)
    if args.json:
        from hessrmt.io import to_jsonable

        sys.stdout.write(json.dumps(to_jsonable(summary), indent=2) + "\n")
        return 0
    support = ", ".join(f"[{a:.6g}, {b:.6g}]" for a, b in summary["support"])
    atoms = ", ".join(f"{m:.6g} at {x:.6g}" for x, m in summary["atoms"]) or "none"
    lines = [
        "Pennington-Bahri model: H = H0 (Marchenko-Pastur, ratio phi, mean 1) "
        "+ H1 (semicircle, variance 2 eps)",
        f"phi        {_fmt(summary['phi'])}",
        f"epsilon    {_fmt(summary['epsilon'])}",
        f"epsilon_c  {_fmt(summary['epsilon_c'])}",
        f"index      {_fmt(summary['index'])}",
        f"alpha0     {_fmt(summary['alpha0'])}",
        f"support    {support}",
        f"atoms      {atoms}",
        f"h0_atom    {_fmt(summary['h0_atom'])}",
    ]
    if args.plot:
        lines.append(f"plot       {args.plot}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


#: theory name -> (one-line help, add_arguments(parser) which also sets the handler)
THEORIES: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "pennington-bahri": (
        "Wishart + Wigner Hessian at a critical point (Pennington & Bahri, ICML 2017): "
        "density, index, critical energy",
        _add_pennington_bahri,
    ),
    "gan": (
        "GAN spin glass (Baskerville et al., arXiv 2101.02524): Hessian density "
        "(--b --b1 --x1) or complexity and thresholds theta_D, theta_G (--p --q --sigma-z)",
        theory_gan.add_arguments,
    ),
}


def _add_spin_glass(parser: argparse.ArgumentParser) -> None:
    from hessrmt.cli import theory_spin_glass

    theory_spin_glass.add_arguments(parser)


THEORIES["spin-glass"] = (
    "Kac-Rice complexity of the spherical p-spin (Auffinger, Ben Arous & Cerny 2013): "
    "E_inf, bands E_k, Theta_k(u), with any limiting law",
    _add_spin_glass,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "theory", help="evaluate a random-matrix theory of loss-surface Hessians"
    )
    theories = parser.add_subparsers(
        dest="theory", metavar="THEORY", required=True, parser_class=type(parser)
    )
    for name, (help_text, add) in THEORIES.items():
        add(theories.add_parser(name, help=help_text, description=help_text))
